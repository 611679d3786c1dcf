"""One module per ``gnt-*`` command; each has a command table and ``main``."""
