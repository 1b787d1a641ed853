"""The apps stay services: the import-linter contracts in .importlinter hold."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_apps_import_each_other_only_through_client_and_errors():
    """No app imports another app's models, services, views or tasks (CONVENTIONS 1-2)."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
