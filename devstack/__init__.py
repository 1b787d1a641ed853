"""Development tooling: the launcher behind ``make run`` (server, worker, beat and a broker)
and the private Redis it starts where none is running. Not part of the product."""
