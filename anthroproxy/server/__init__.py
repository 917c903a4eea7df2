"""The thin I/O shell: an HTTP/1.1 server on h11 and trio (serve.py, connection.py,
state.py, listeners.py), which takes the application as an object and knows no
route; and the proxy run as processes (runner.py, workers.py)."""
