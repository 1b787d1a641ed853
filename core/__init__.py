"""The shared kernel under every app's API and client: the error shape and exception
handler (``api``), the REST plumbing of every ``client.py`` (``service_client``) and the
one ``Idempotency-Key`` mechanism (``idempotency``). It imports no app."""
