"""The shared kernel under every app's API and client: the error shape and exception
handler (``api``), the REST plumbing of every ``client.py`` (``service_client``), the
one ``Idempotency-Key`` mechanism (``idempotency``), the message that asks another app's worker
for work by task name (``tasks``) and the one nearest-rank percentile
(``stats``). It imports no app."""
