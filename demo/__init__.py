"""`driftline demo` (``python -m demo``): the whole loop on the built-in scenario, every service its own process."""
