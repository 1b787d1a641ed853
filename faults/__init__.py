"""Fault flags: injected failures (declines, shortages, database timeouts) that the
running server and worker read from the database within seconds, no restart needed, and
the seams they enter through: a guarded database update (``database``), a transport
adapter on the service client (``transport``), a view mixin (``views``) and named
crash checkpoints (``checkpoints``)."""
