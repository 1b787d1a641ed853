"""The shared kernel under every app's API and client: the error shape and exception
handler (``api``), the REST plumbing of every ``client.py`` (``service_client``), the
one ``Idempotency-Key`` mechanism (``idempotency``) and the one nearest-rank percentile
(``stats``). It imports no app."""
