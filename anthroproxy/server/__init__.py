"""The thin I/O shell: an HTTP/1.1 server on h11 and trio."""
