"""``python -m devstack``: the stack ``make run`` starts."""

import sys

from devstack.launcher import main

sys.exit(main())
