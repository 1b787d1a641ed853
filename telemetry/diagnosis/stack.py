"""The application frames of a recorded stack trace, library frames folded.

A statement span's exception is recorded by the database instrumentation's wrapper, so its
stack trace holds nothing but the wrapper and the driver. The same error, climbing, is
recorded again on the spans it reaches (the task's run, the request), and those stack
traces reach the shop's own code: the task, the service function, the line. The root-cause
card reads the first such stack trace on the error's path and shows the application frames
with each run of library frames (the standard library, installed packages) folded into
one line that says how many there were and whose. Threadline's own tracing code (the
``instrumentation`` package: a statement timed before it is made a span, the CPU middleware)
is folded with them: it is not the shop's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>.+)$')
_LIBRARY = re.compile(
    r"/(?:site|dist)-packages/|/lib/python\d[\d.]*/|^<frozen |^<string>|(?:^|/)instrumentation/\w+\.py$"
)
_PACKAGE = re.compile(
    r"/(?:site|dist)-packages/(?P<package>[A-Za-z_][\w]*)|(?:^|/)(?P<own>instrumentation)/\w+\.py$"
)


@dataclass(frozen=True)
class Frame:
    file: str  # project-relative for application frames: "orders/services.py"
    line: int
    function: str
    code: str
    library: bool


def last_traceback(stacktrace: str) -> str:
    """The last ``Traceback`` block: the exception that was raised last in the chain, whose
    frames are the ones that led to the failing call."""
    marker = "Traceback (most recent call last):"
    at = stacktrace.rfind(marker)
    return stacktrace[at:] if at >= 0 else stacktrace


def frames(stacktrace: str) -> list[Frame]:
    """The frames of the last traceback in ``stacktrace``, outermost first."""
    found: list[Frame] = []
    lines = last_traceback(stacktrace).splitlines()
    for index, text in enumerate(lines):
        match = _FRAME.match(text)
        if not match:
            continue
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        code = "" if following.startswith(("File ", "^", "~")) or _FRAME.match(following) else following
        path = match["file"]
        library = bool(_LIBRARY.search(path))
        found.append(
            Frame(path if library else short_path(path), int(match["line"]), match["function"], code, library)
        )
    return found


def short_path(path: str) -> str:
    """``/srv/shop/orders/services.py`` → ``orders/services.py``: the package and module."""
    parts = path.replace("\\", "/").split("/")
    return "/".join(parts[-2:])


def has_application_frames(stacktrace: str) -> bool:
    return any(not frame.library for frame in frames(stacktrace))


def folded_lines(stacktrace: str) -> tuple[str, ...]:
    """The stack trace as the card shows it: one line per application frame
    (``orders/services.py:166 in _write_confirmation: if _update(...)``), each run of library
    frames as ``… 9 library frames (django, opentelemetry)``."""
    lines: list[str] = []
    run: list[Frame] = []

    def fold() -> None:
        if run:
            packages = sorted({package_of(frame.file) for frame in run})
            lines.append(f"… {len(run)} library frame{'s' if len(run) > 1 else ''} ({', '.join(packages)})")
            run.clear()

    for frame in frames(stacktrace):
        if frame.library:
            run.append(frame)
            continue
        fold()
        lines.append(
            f"{frame.file}:{frame.line} in {frame.function}" + (f": {frame.code}" if frame.code else "")
        )
    fold()
    return tuple(lines)


def package_of(path: str) -> str:
    match = _PACKAGE.search(path)
    return (match["package"] or match["own"]) if match else "python"
