"""What the proxy tells its operators: the log and its access records
(logs.py), and the Prometheus metrics (metrics.py). Neither knows the rest of
the package."""
