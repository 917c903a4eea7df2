"""Prometheus metrics for ``GET /metrics``, kept with prometheus_client.

Each server has its own registry, so servers embedded side by side (or started
one after another by the tests) keep their own counts. With ``--workers``, the
master sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers start: each worker
writes its values to files there, and whichever worker answers ``/metrics``
sums them all (prometheus_client's multiprocess mode).

The cost is a few microseconds per request, none per streamed chunk
(bench/README.md, "Metrics").
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from .logs import AccessRecord

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Seconds. A first token can take minutes on a local model, a whole answer half an hour.
FIRST_EVENT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
TOKEN_KINDS = (("input", "input_tokens"), ("output", "output_tokens"),
               ("cache_read", "cache_read_input_tokens"), ("cache_creation", "cache_creation_input_tokens"))


class Metrics:
    def __init__(self) -> None:
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        own = self.registry
        # (client: a configured client's name, or "": the label's values are bounded by the config file)
        self.requests = Counter("anthroproxy_requests",
                                "Requests answered, by route, HTTP status, target model and client",
                                ["route", "status", "model", "client"], registry=own)
        self.tokens = Counter("anthroproxy_tokens",
                              "Tokens the upstream reported (not the proxy's estimates), by kind, target model and client",
                              ["kind", "model", "client"], registry=own)
        self.upstream_errors = Counter("anthroproxy_upstream_errors", "Upstream failures, by kind",
                                       ["kind"], registry=own)
        self.active_streams = Gauge("anthroproxy_active_streams", "Streams being relayed now",
                                    registry=own, multiprocess_mode="livesum")
        self.first_event = Histogram("anthroproxy_time_to_first_event_seconds",
                                     "From a streaming request's arrival to its first event from the upstream",
                                     ["model"], buckets=FIRST_EVENT_BUCKETS, registry=own)
        self.duration = Histogram("anthroproxy_request_duration_seconds", "From a request's arrival to its end",
                                  ["route"], buckets=DURATION_BUCKETS, registry=own)
        self.client_disconnects = Counter("anthroproxy_client_disconnects",
                                          "Clients that left before their answer ended", registry=own)
        self.upstream_requests = Counter("anthroproxy_upstream_requests",
                                         "Requests sent to each upstream, by outcome: ok, or the failure's kind",
                                         ["upstream", "outcome"], registry=own)
        self.failovers = Counter("anthroproxy_failovers", "Moves to the next candidate upstream, by reason",
                                 ["reason"], registry=own)
        self.cooling = Gauge("anthroproxy_cooling_candidates",
                             "Replicas, keys and (upstream, key, model)s skipped after a failure, now",
                             registry=own, multiprocess_mode="liveall")
        self.routes = Counter("anthroproxy_routes", "Requests by the route their model entry chose, and upstream",
                              ["model_route", "upstream"], registry=own)
        self.upstream_cancellations = Counter(
            "anthroproxy_upstream_cancellations",
            "Upstream requests the proxy cut short (the client left, the drain ran out, the upstream fell silent)",
            registry=own)
        if os.environ.get(MULTIPROCESS_DIR):
            self.exposed = CollectorRegistry()
            MultiProcessCollector(self.exposed)
        else:
            self.exposed = own

    def child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, looked up once: prometheus_client takes a
        lock and builds a tuple on every call. (Every label value comes from the
        config or a fixed set, so the cache stays small.)"""
        key = (metric, values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found

    def record(self, access: AccessRecord, duration_s: float) -> None:
        """Count one finished request."""
        model, client = access.target or "", access.client or ""
        route = access.route or "none"
        self.child(self.requests, route, str(access.status or 0), model, client).inc()
        self.child(self.duration, route).observe(duration_s)
        if access.first_event_s is not None:
            self.child(self.first_event, model).observe(access.first_event_s)
        for kind, key in TOKEN_KINDS:
            if access.usage.get(key) and not access.usage_estimated:
                self.child(self.tokens, kind, model, client).inc(access.usage[key])
        if access.upstream_error:
            self.child(self.upstream_errors, access.upstream_error).inc()
        if access.model_route:
            self.child(self.routes, access.model_route, access.upstream or "").inc()
        if access.client_gone:
            self.client_disconnects.inc()
        if access.upstream_open:
            self.upstream_cancellations.inc()

    def render(self, accept: str) -> tuple[bytes, str]:
        """The exposition (OpenMetrics when the scraper asks for it) and its content type."""
        encode, content_type = choose_encoder(accept)
        return encode(self.exposed), content_type
