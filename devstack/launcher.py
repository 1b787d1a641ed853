"""``make run``: the whole shop for development in one command.

Runs in debug mode (DJANGO_DEBUG=true unless set otherwise, for itself and its children).
Prepares both databases (migrations, the demo catalogue, in debug mode only a dev superuser
admin/admin), finds a Redis broker or starts a private one, then runs the dev server, one
Celery worker and beat as child processes with their output prefixed by name. A child that
dies is started again (``devstack.supervisor``); one that keeps dying stops them all with a
non-zero exit status. Ctrl-C or SIGTERM stops them all.

The Celery queue is named after the port and the directory (``threadline-8000-1a2b3c4d``)
unless ``CELERY_TASK_DEFAULT_QUEUE`` is set, so two copies on one Redis (two checkouts, or
one on two ports) never take each other's tasks. The name is the prefix of each app's queue
(``threadline-8000-1a2b3c4d.payments``, ``config/queues.py``); the one worker consumes them all.

    .venv/bin/python -m devstack [--host HOST] [--port PORT]    (make run PORT=8001)
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from config import queues
from devstack.broker import PrivateRedis, redis_answers
from devstack.supervisor import Child, Supervisor

BASE_DIR = Path(__file__).resolve().parent.parent
# The venv's executables: sys.executable is .venv/bin/python when run as `make run` does.
BIN = Path(sys.executable).parent
STOP_TIMEOUT = 10  # seconds a child gets to shut down before it is killed
_output_lock = threading.Lock()  # keeps the banner's lines together amid children's output


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description="Run the shop for development: migrate and seed the databases, then run "
        "the dev server, a Celery worker, beat and (if none answers) a private Redis. "
        "Ctrl-C stops everything.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address the dev server listens on (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="port the dev server listens on (default: %(default)s)"
    )
    return parser.parse_args()


def say(text: str) -> None:
    with _output_lock:
        print(text, flush=True)


def port_in_use(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def debug_by_default() -> None:
    """A development stack: DEBUG on (the public dev secrets allowed) for this process and,
    through the environment, its children. DJANGO_DEBUG=false set on purpose is kept."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "true")


def prepare_databases(debug: bool) -> None:
    """Bring both databases up to date; seed on first start only. In debug mode, also add
    the dev superuser admin/admin on first start; never outside it."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate")
    # The trace store is its own database. Quietly: there Django records every app's
    # migrations as applied (the router keeps their tables out), which is just noise.
    call_command("migrate", database="telemetry", verbosity=0)
    call_command("seed_demo", if_empty=True)
    User = get_user_model()
    if debug and not User.objects.exists():
        User.objects.create_superuser("admin", "admin@example.com", "admin")
        say("created superuser admin / admin (dev login, debug mode only)")
    elif not debug:
        say("no dev superuser outside debug mode: create one with manage.py createsuperuser")
    # The children open their own connections; SQLite should not see this one linger.
    connections.close_all()


def private_redis_port(url: str) -> int | None:
    """The configured port when it is on loopback and free, so tools started from another
    terminal with the same settings reach this broker too; otherwise any free port."""
    parts = urlsplit(url)
    if parts.hostname not in {"127.0.0.1", "localhost"} or not parts.port:
        return None
    return None if port_in_use("127.0.0.1", parts.port) else parts.port


def choose_broker(configured: str) -> tuple[str, PrivateRedis | None]:
    if redis_answers(configured):
        say(f"broker: {configured} (answers PING)")
        return configured, None
    redis = PrivateRedis(port=private_redis_port(configured), output=subprocess.PIPE)
    say(
        f"broker: nothing answers at {configured}; started a private Redis at {redis.url} "
        "(it stops with this command and keeps nothing)"
    )
    return redis.url, redis


def queue_name(port: int, directory: Path = BASE_DIR) -> str:
    """This copy's own queue: another copy on the same Redis runs from another directory or
    on another port, so it gets another name. CELERY_TASK_DEFAULT_QUEUE set on purpose wins."""
    chosen = os.environ.get("CELERY_TASK_DEFAULT_QUEUE")
    if chosen:
        return chosen
    digest = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:8]
    return f"threadline-{port}-{digest}"


def child_env(broker_url: str, base_url: str, queue: str) -> dict[str, str]:
    return dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings",
        CELERY_BROKER_URL=broker_url,
        CELERY_TASK_DEFAULT_QUEUE=queue,  # web, worker and beat alike
        THREADLINE_BASE_URL=base_url,  # the apps' REST calls go to this server
        PYTHONUNBUFFERED="1",  # lines reach the terminal as they are written, not in blocks
        # simulate_orders bursts checkouts from this machine's one address; a rate set on
        # purpose is kept.
        SHOP_CHECKOUT_RATE=os.environ.get("SHOP_CHECKOUT_RATE", "100000/minute"),
    )


def commands(host: str, port: int, schedule: Path) -> dict[str, list[str]]:
    celery = str(BIN / "celery")
    return {
        # With the autoreloader: code changes restart the server, as developers expect.
        "web": [sys.executable, "manage.py", "runserver", f"{host}:{port}"],
        "worker": [celery, "-A", "config", "worker", "--loglevel", "INFO", "--concurrency", "2"],
        "beat": [celery, "-A", "config", "beat", "--loglevel", "INFO", "--schedule", str(schedule)],
    }


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    # A session of its own: the terminal's Ctrl-C reaches only this launcher, which then
    # stops the children in order, and a stuck child's whole group can be killed.
    return subprocess.Popen(
        argv,
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )


def redis_child(redis: PrivateRedis) -> Child:
    """The private broker as a child: started again empty on the same port, as a Redis
    without persistence comes back from a crash (the worker reconnects to it)."""

    def spawn() -> subprocess.Popen:
        if redis.process.poll() is not None:
            redis.start()
        return redis.process

    return Child("redis", spawn)


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
        return True
    except urllib.error.HTTPError:
        return True  # an error page is still an answer
    except OSError:
        return False


def banner(base_url: str, debug: bool) -> str:
    login = "(dev login admin / admin, debug mode only)" if debug else "(no dev login: DEBUG is off)"
    return f"""
Threadline is running (Ctrl-C stops everything):
  storefront     {base_url}/
  admin          {base_url}/admin/   {login}
  trace viewer   {base_url}/traces/
  API            {base_url}/api/shop/products/
Next, in another terminal (with the same settings{"; export DJANGO_DEBUG=true" if debug else ""}):
  .venv/bin/python manage.py faults set order_db_timeout=1    # every order confirmation times out
  .venv/bin/python manage.py trace --order ORDER_ID           # an order's trace as a tree
"""


def supervise(supervisor: Supervisor, base_url: str, debug: bool) -> int:
    """Print the banner once the server answers; return 1 if a child keeps dying."""
    announced = False

    def announce() -> None:
        nonlocal announced
        if not announced and answers(f"{base_url}/"):
            say(banner(base_url, debug))
            announced = True

    return supervisor.run(on_tick=announce)


def stop_on_signals() -> None:
    """Ctrl-C and SIGTERM (kill, systemd, timeout) both end the launcher as KeyboardInterrupt.
    SIGINT explicitly: a launcher started in the background of a script inherits SIGINT
    ignored, and Python then leaves it ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def stop(children: dict[str, subprocess.Popen]) -> None:
    """SIGTERM to all at once (each shuts down its own subprocesses), then kill stragglers."""
    for process in children.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    for name, process in children.items():
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{name} did not stop within {STOP_TIMEOUT}s; killing it")
            os.killpg(process.pid, signal.SIGKILL)  # its group: the server's reloader child too
            process.wait()


def stop_redis(redis: PrivateRedis | None) -> None:
    if redis is None:
        return
    try:
        redis.stop()
    except subprocess.TimeoutExpired:
        redis.process.kill()
        redis.process.wait()


def main() -> int:
    args = parse_args()
    base_url = f"http://{'127.0.0.1' if args.host in {'0.0.0.0', '::'} else args.host}:{args.port}"
    if port_in_use(args.host, args.port):
        sys.exit(f"port {args.port} is in use (another server?); choose another with --port")
    os.chdir(BASE_DIR)
    debug_by_default()
    import django
    from django.conf import settings

    django.setup()
    say(
        "debug mode (DJANGO_DEBUG=true): dev secrets and dev login admin/admin, never for production"
        if settings.DEBUG
        else "DJANGO_DEBUG is off: production settings, no dev login"
    )
    stop_on_signals()
    prepare_databases(settings.DEBUG)
    children: list[Child] = []
    redis = None
    try:
        broker_url, redis = choose_broker(settings.CELERY_BROKER_URL)
        queue = queue_name(args.port)
        apps = ", ".join(queues.app_queue(queue, app) for app in queues.TASK_APPS)
        say(
            f"queue: {queue} (this copy's own; its apps' tasks on {apps}, all consumed by the one "
            "worker; set CELERY_TASK_DEFAULT_QUEUE to choose the prefix)"
        )
        env = child_env(broker_url, base_url, queue)
        # One beat schedule per port: two copies in one directory must not share the file.
        schedule = settings.VAR_DIR / f"celerybeat-schedule-{args.port}"
        if redis is not None:  # first, and watched like the others; stopped last, below
            children.append(redis_child(redis))
        for name, argv in commands(args.host, args.port, schedule).items():
            children.append(Child(name, functools.partial(start, argv, env)))
        supervisor = Supervisor(children, say)
        supervisor.start_all()
        return supervise(supervisor, base_url, settings.DEBUG)
    except KeyboardInterrupt:
        say("stopping...")
        return 0
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave children behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop({c.name: c.process for c in children if c.name != "redis" and c.process is not None})
        stop_redis(redis)
        say("stopped")


if __name__ == "__main__":
    sys.exit(main())
