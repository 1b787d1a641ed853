"""The architecture holds: the import-linter contracts in .importlinter are kept by the tree,
and each of them is broken by one deliberate bad import, so none is a contract that cannot fail.

A violation test copies the first-party packages (their Python files only) into a temporary
directory, adds one bad import there, and runs lint-imports on the copy with the project's
.importlinter: exactly the contract written against that import must be reported BROKEN.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".importlinter"
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")
# "<contract name> KEPT" or "... BROKEN", maybe followed by "(3 ignored imports)".
RESULT_LINE = re.compile(r"^(?P<name>.+) (?P<result>KEPT|BROKEN)(?: \(.*\))?$", re.MULTILINE)


def read_config() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    return parser


def contract_names() -> dict[str, str]:
    """Contract id -> name, as .importlinter declares them."""
    prefix = "importlinter:contract:"
    config = read_config()
    return {s.removeprefix(prefix): config[s]["name"] for s in config.sections() if s.startswith(prefix)}


def root_packages() -> list[str]:
    return read_config()["importlinter"]["root_packages"].split()


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    """lint-imports on the packages under ``cwd``, with the project's contracts; a wide
    terminal so that no contract name is wrapped, no PYTHONPATH so that cwd's copies count."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"COLUMNS": "1000"}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", "--no-logo", str(CONFIG)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def results(output: str) -> dict[str, str]:
    """Contract name -> KEPT or BROKEN, from lint-imports' report."""
    return {m["name"]: m["result"] for m in RESULT_LINE.finditer(output)}


def copy_packages(target: Path) -> None:
    """The first-party packages' Python files (templates, static files and caches left out)."""

    def not_python(directory: str, names: list[str]) -> list[str]:
        return [
            n for n in names if n == "__pycache__" or not (n.endswith(".py") or Path(directory, n).is_dir())
        ]

    for package in root_packages():
        shutil.copytree(ROOT / package, target / package, ignore=not_python)


def test_the_tree_keeps_every_contract():
    """No app imports another app's insides, no domain code imports OpenTelemetry or the
    store, and the kernel, the store and instrumentation stay beneath the apps
    (CONVENTIONS 1, 2, 8, 11)."""
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(results(result.stdout).values()) == {"KEPT"}
    assert set(results(result.stdout)) == set(contract_names().values())


# contract id -> (file in the copy, the bad import it gets)
VIOLATIONS = {
    # Another app's selectors (not its client): the hole the old per-app lists left open.
    "domain-apps-independent": ("shop/_violation.py", "import payments.selectors\n"),
    # A client that needs its app's models is no longer loadable by a caller alone.
    "clients-are-leaves": ("payments/client.py", "from payments import models  # noqa: E402\n"),
    "domain-tracing-through-instrumentation": ("orders/_violation.py", "import opentelemetry.trace\n"),
    "instrumentation-imports-no-app": ("instrumentation/_violation.py", "import telemetry.models\n"),
    "store-depends-on-no-domain-app": ("telemetry/_violation.py", "import orders.errors\n"),
    "core-imports-no-app": ("core/_violation.py", "import orders.errors\n"),
    "product-imports-no-tooling": ("telemetry/_violation.py", "import devstack\n"),
    # Tooling may use the product, but not call a worker's task in its own process.
    "tasks-enqueued-by-name": ("simulator/_violation.py", "import payments.tasks\n"),
}


def test_every_contract_has_a_violation_test():
    """A contract added to .importlinter is shown to fail, too."""
    assert set(VIOLATIONS) == set(contract_names())


@pytest.mark.parametrize("contract", sorted(VIOLATIONS))
def test_a_bad_import_breaks_exactly_its_contract(contract: str, tmp_path: Path):
    """One bad import added to a copy of the project breaks the contract written against it,
    and no other: each contract can fail, and says what it is about."""
    copy_packages(tmp_path)
    module, bad_import = VIOLATIONS[contract]
    with (tmp_path / module).open("a") as file:
        file.write(bad_import)

    result = lint_imports(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    broken = {name for name, outcome in results(result.stdout).items() if outcome == "BROKEN"}
    assert broken == {contract_names()[contract]}, result.stdout
    importer = module.removesuffix(".py").replace("/", ".")
    assert f"{importer} -> " in result.stdout  # the report names the offending module
