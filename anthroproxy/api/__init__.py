"""The application the HTTP shell serves: the routes, their handlers, and what
a request goes through (the upstreams, failover, the translation)."""
