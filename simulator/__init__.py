"""Tooling: the order simulator (``simulate_orders``), which drives the running shop over
HTTP as customers would and checks the books afterwards. It imports no product app."""
