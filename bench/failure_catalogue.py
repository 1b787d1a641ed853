"""The failure catalogue's accuracy (issue 11): every kind in ``simulator/catalogue.py``
provoked on a fresh stack, its stored trace diagnosed, the verdict compared with the
expected one. Prints the accuracy table (kind, expected, produced, right?) and writes
``docs/failures.md`` with the diagnosis text the code produced for each kind.

The stack is ``bench/stack.py``'s: a SQLite shop database as ``make run`` has it (or a
fresh PostgreSQL database with ``--postgres URL``), a SQLite span store, gunicorn, one
Celery worker and a private Redis, with the flow tests' fast settings (spans exported
every 100 ms, fault flags re-read every 0.2 s, retries 0.1 s apart, a dead worker's task
back after 4 s). Kinds that cannot be provoked on the engine are listed as such.

    .venv/bin/python bench/failure_catalogue.py            # every kind, writes docs/failures.md
    .venv/bin/python bench/failure_catalogue.py --kind payment_decline --no-page
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime

from stack import ROOT, Stack, StackError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "true")  # this process only reads; the stack's is production-like
import django  # noqa: E402

django.setup()

from devstack.broker import PrivateRedis  # noqa: E402
from simulator import catalogue  # noqa: E402

FAST = {
    "OTEL_BSP_SCHEDULE_DELAY": "100",
    "OTEL_BLRP_SCHEDULE_DELAY": "100",
    "ORDERS_FINALIZE_RETRY_BACKOFF": "0.1",
    "ORDERS_RECONCILE_INTERVAL": "1",
    "ORDERS_STUCK_AFTER": "30",
    "CELERY_VISIBILITY_TIMEOUT": "4",
    "FAULTS_CACHE_SECONDS": "0.2",
    "TELEMETRY_SAMPLING_RULES": "",
    "TELEMETRY_SAMPLE_RATE": "1.0",
    "OTEL_TRACES_SAMPLER": "",
}


class BrokerControl:
    """The bench's stack, with its private Redis stopped and started again (same port)."""

    def __init__(self, stack: Stack, redis: PrivateRedis) -> None:
        self.stack, self.redis, self.url = stack, redis, stack.url

    def manage(self, *args: str) -> str:
        return self.stack.manage(*args)

    def stop_broker(self) -> None:
        self.redis.stop()

    def start_broker(self) -> None:
        self.redis = PrivateRedis(port=self.redis.port)


def parse_args() -> argparse.Namespace:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--postgres", default=None, help="PostgreSQL admin URL (default: SQLite)")
    parser.add_argument("--kind", action="append", choices=sorted(catalogue.BY_NAME), help="only these kinds")
    parser.add_argument("--no-page", action="store_true", help="do not write docs/failures.md")
    parser.add_argument("--keep-logs", action="store_true")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    engine = "postgresql" if args.postgres else "sqlite"
    kinds = [catalogue.BY_NAME[name] for name in args.kind] if args.kind else list(catalogue.KINDS)
    runnable = [k for k in kinds if engine in k.engines]
    skipped = [k for k in kinds if engine not in k.engines]
    redis = PrivateRedis()
    stack = Stack(postgres=args.postgres, broker_url=redis.url, env=FAST, name="catalogue")
    results = []
    shop = BrokerControl(stack, redis)
    try:
        stack.prepare(stock_units=100)
        stack.start(beat=True)
        for kind in runnable:
            result = catalogue.run_kind(shop, kind)
            results.append(result)
            print(f"{kind.name}: {'right' if result.right else 'WRONG'}: {result.produced}", flush=True)
    except StackError as exc:
        print(f"the stack did not start: {exc}", file=sys.stderr)
        return 2
    finally:
        stack.close(keep_logs=args.keep_logs)
        shop.redis.stop()
    print()
    print(catalogue.accuracy_table(results))
    if skipped:
        print(f"not provoked on {engine}: {', '.join(k.name for k in skipped)}")
    if not args.no_page:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        page = catalogue.page(results, engine=engine, skipped=skipped, when=when)
        (ROOT / "docs" / "failures.md").write_text(page)
        print("wrote docs/failures.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
