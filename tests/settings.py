"""Settings for the test suite and the type checker: the production settings, DEBUG off, with
secrets made for this process (never the public dev defaults, which production refuses).

The test client and the live server speak plain HTTP, so the HTTPS redirect is off, as in a
plain-HTTP deployment. A variable already set in the environment wins; subprocesses that a
test starts inherit these values, so they load the same settings.
"""

import os
import secrets

for _name, _value in {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "THREADLINE_SERVICE_TOKEN": secrets.token_urlsafe(32),
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
}.items():
    os.environ.setdefault(_name, _value)

from config.settings import *  # noqa: E402, F403

# The unit tests run without Redis: the throttle counters live in this process's memory
# (a live server's threads share them); tests/conftest.py empties them before each test.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The live server in this process answers each keep-alive connection on a thread of its own,
# and the clients' pooled sessions keep those connections open for the whole run: with
# persistent database connections those threads would hold sessions on the test databases,
# which PostgreSQL then refuses to drop at teardown. Here a request's connection closes when
# it ends; the processes flow tests start read DATABASE_CONN_MAX_AGE and keep theirs.
for _database in DATABASES.values():  # noqa: F405
    _database["CONN_MAX_AGE"] = 0

# Hashing a password the production way (PBKDF2, a million rounds) costs about half a second
# of CPU, and the suite signs in and creates users a few hundred times; Django's testing docs
# recommend a fast hasher. Nothing here tests the hash's strength.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
