"""The proxy run as processes: one (runner.py: signals, the start-up log,
failure to bind) or several sharing a port (workers.py). Above the
composition root, which it runs; nothing imports it but the command line."""
