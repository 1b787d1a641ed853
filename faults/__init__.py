"""Fault flags: injected failures (declines, shortages, database timeouts) that the
running server and worker read from the database within seconds, no restart needed."""
