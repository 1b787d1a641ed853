"""Asking another app's worker for work: a task named by its owner's ``client.py`` with JSON
arguments, published by name. No app imports another's task functions (``.importlinter``):
the owner's client builds the message, the caller decides how it travels, at once
(``send``) or durably through its own outbox (orders writes the message with the state
change that calls for it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from celery import current_app


@dataclass(frozen=True)
class TaskMessage:
    """A task to run in its owner's worker: its registered name and JSON keyword arguments
    (ids and keys as strings). Celery routes it to the owner's queue by the name's app."""

    name: str
    kwargs: dict[str, str] = field(default_factory=dict)


def send(message: TaskMessage) -> None:
    """Publish ``message`` now, under the current trace context (the run is its child).
    Raises what the broker raises when it cannot take it."""
    current_app.send_task(message.name, kwargs=message.kwargs)
