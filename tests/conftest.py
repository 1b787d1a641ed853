"""Suite-wide fixtures: one in-memory tracer provider for the test process, and the
apps' base URLs pointed at a live server so clients call their real callee API."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentation.setup import configure

SPANS = InMemorySpanExporter()


# What a test asks for when it reaches the configured database (the closure of its fixtures:
# ``catalogue`` asks for ``db``, ``services_url`` for ``live_server``).
DATABASE_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"}
DATABASE_FIXTURES |= {"live_server"}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist's ``--dist loadgroup`` (make test), each test file is one group, run whole
    on one worker, so a flow module's stack starts once; a file may split itself by giving
    its tests ``xdist_group`` marks of its own (tests/flows/test_catalogue_flow.py).

    On PostgreSQL (``make test-pg``, CI's second pass) only the tests that reach the database
    run: the others (settings, sampling, diagnosis of built traces, the dev stack's own SQLite
    processes) cannot see the engine, and the SQLite pass has run them. They are reported as
    deselected."""
    if settings.DATABASE_URL.startswith(("postgres://", "postgresql://")):
        kept: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            (kept if _reaches_the_database(item) else dropped).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


def _reaches_the_database(item: pytest.Item) -> bool:
    """A flow test (its stack takes databases of the configured engine), a ``django_db``
    test, or one whose fixtures open the database."""
    if item.get_closest_marker("flow") or item.get_closest_marker("django_db"):
        return True
    return bool(DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())))


@pytest.fixture(scope="session", autouse=True)
def _test_process() -> None:
    # set_tracer_provider works once per process: one provider for the whole session. It
    # keeps every trace: tests assert on the spans of any route, admin pages and order-status
    # polls included, which the default sampling rules would mostly drop (and the developer's
    # OTEL_TRACES_SAMPLER must not decide either). tests/instrumentation/test_sampling.py
    # tests the rules on samplers of its own.
    with override_settings(TELEMETRY_SAMPLING_RULES="", TELEMETRY_SAMPLE_RATE=1.0, OTEL_TRACES_SAMPLER=""):
        configure(exporter=SPANS)
    # Unit tests publish tasks into an in-memory broker nobody consumes; the flow tests
    # (tests/flows) run a real worker on a real Redis in processes of their own.
    from config.celery import app

    app.conf.broker_url = "memory://"


@pytest.fixture(autouse=True)
def _no_stray_services(settings) -> None:
    """Clients in a test reach a live server only through ``services_url``; otherwise
    they get a refused connection, never whatever dev server runs on port 8000."""
    for name in ("ORDERS_BASE_URL", "INVENTORY_BASE_URL", "PAYMENTS_BASE_URL"):
        setattr(settings, name, "http://127.0.0.1:9")


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    """Each test starts with no checkout counted against its client: the counters live in
    the cache, which outlives a test's database transaction. (Failed logins are database
    rows, rolled back with the test.)"""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _no_cached_faults() -> None:
    """Each test reads the fault flags its own database holds: a flag an earlier test set
    and rolled back would otherwise stay in this process's cache for FAULTS_CACHE_SECONDS
    (a card declined in a test that set no fault)."""
    from faults.services import faults_cache_clear

    faults_cache_clear()


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """The spans finished during the test (synchronously exported)."""
    SPANS.clear()
    return SPANS


@pytest.fixture
def services_url(live_server, settings) -> str:
    """A live server that every app's client calls, as in one deployment."""
    for name in ("ORDERS_BASE_URL", "INVENTORY_BASE_URL", "PAYMENTS_BASE_URL"):
        setattr(settings, name, live_server.url)
    return live_server.url


@pytest.fixture
def catalogue(db):
    """The demo catalogue with its stock."""
    from django.core.management import call_command

    call_command("seed_demo", verbosity=0)


@pytest.fixture
def faults(db):
    """Set fault flags for one test; they are reset afterwards."""
    from faults.services import faults_reset, faults_set

    yield faults_set
    faults_reset()


class InProcessWorker:
    """The tasks a test publishes (through the outbox or ``core.tasks.send``), kept in order
    and run in the test's own process on demand, as each app's worker would run them from
    its queue: what one task publishes (a report back to orders) is run after it."""

    def __init__(self) -> None:
        self.queued: list[tuple[str, dict]] = []

    def send_task(self, name: str, args=None, kwargs=None, **options) -> None:
        self.queued.append((name, dict(kwargs or {})))

    def names(self) -> list[str]:
        return [name for name, _ in self.queued]

    def clear(self) -> None:
        """Forget what was queued so far (the placed order's finalisation, say)."""
        self.queued = []

    def drop(self, name: str) -> None:
        """Lose the queued messages of ``name`` (a worker killed for good, a report never sent)."""
        self.queued = [(queued, kwargs) for queued, kwargs in self.queued if queued != name]

    def run(self, *, skip: tuple[str, ...] = ()) -> list[str]:
        """Run every queued task, and what they queue, until none is left (tasks named in
        ``skip`` are dropped unrun); the names run, in order."""
        from config.celery import app

        ran = []
        while self.queued:
            name, kwargs = self.queued.pop(0)
            if name in skip:
                continue
            app.tasks[name].apply(kwargs=kwargs)
            ran.append(name)
        return ran


@pytest.fixture
def worker(monkeypatch) -> InProcessWorker:
    """Tasks published during the test are queued here instead of the in-memory broker."""
    from celery import Celery, current_app

    from config.celery import app

    app.loader.import_default_modules()  # every app's tasks registered, as a worker starts with
    queued = InProcessWorker()

    def send_task(celery_app: Celery, name: str, args=None, kwargs=None, **options) -> None:
        queued.send_task(name, args, kwargs, **options)

    # The code publishes through ``current_app``: whichever app was made current last in
    # this process (another test's may be), and an app may carry ``send_task`` of its own
    # (a monkeypatch undone on an instance leaves the bound method there). So: the class,
    # config's app and the current one.
    monkeypatch.setattr(Celery, "send_task", send_task)
    for target in {id(a): a for a in (app, current_app._get_current_object())}.values():
        monkeypatch.setattr(target, "send_task", queued.send_task)
    return queued
