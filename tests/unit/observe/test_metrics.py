"""Metrics kept per server and written in Prometheus' text format."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from anthroproxy.observe.logs import AccessRecord
from anthroproxy.observe.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    body, content_type = metrics.render("")
    assert content_type.startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def test_a_finished_stream_is_counted_by_route_status_model_and_tokens():
    metrics = Metrics()
    record = AccessRecord(method="POST", path="/v1/messages", request_id="r", route="messages", target="gpt-4o",
                          status=200, usage={"input_tokens": 10, "output_tokens": 3, "cache_read_input_tokens": 2})
    record.first_event_s = 0.3
    metrics.record(record, 2.0)
    metrics.record(record, 2.0)
    values = samples(metrics)
    assert values[("anthroproxy_requests_total", (("client", ""), ("model", "gpt-4o"), ("route", "messages"), ("status", "200")))] == 2
    assert values[("anthroproxy_tokens_total", (("client", ""), ("kind", "input"), ("model", "gpt-4o")))] == 20
    assert values[("anthroproxy_tokens_total", (("client", ""), ("kind", "output"), ("model", "gpt-4o")))] == 6
    assert values[("anthroproxy_tokens_total", (("client", ""), ("kind", "cache_read"), ("model", "gpt-4o")))] == 4
    assert values[("anthroproxy_time_to_first_event_seconds_count", (("model", "gpt-4o"),))] == 2
    assert values[("anthroproxy_time_to_first_event_seconds_bucket", (("le", "0.5"), ("model", "gpt-4o")))] == 2
    assert values[("anthroproxy_time_to_first_event_seconds_bucket", (("le", "0.25"), ("model", "gpt-4o")))] == 0
    assert values[("anthroproxy_request_duration_seconds_sum", (("route", "messages"),))] == 4.0
    assert values[("anthroproxy_client_disconnects_total", ())] == 0


def test_failures_disconnects_and_cancellations_are_counted():
    metrics = Metrics()
    record = AccessRecord(method="POST", path="/v1/messages", request_id="r", route="messages", target="m",
                          status=200, client_gone=True)
    record.upstream_open = True
    metrics.record(record, 1.0)
    failed = AccessRecord(method="POST", path="/v1/messages", request_id="r", route="messages", target="m",
                          status=502)
    failed.upstream_failed("http_503")
    metrics.record(failed, 1.0)
    values = samples(metrics)
    assert values[("anthroproxy_client_disconnects_total", ())] == 1
    assert values[("anthroproxy_upstream_cancellations_total", ())] == 1
    assert values[("anthroproxy_upstream_errors_total", (("kind", "http_503"),))] == 1


def test_servers_keep_their_own_counts_and_openmetrics_is_offered():
    first, second = Metrics(), Metrics()
    first.record(AccessRecord(method="GET", path="/health", request_id="r", route="health", status=200), 0.001)
    assert ("anthroproxy_requests_total", (("client", ""), ("model", ""), ("route", "health"), ("status", "200"))) in samples(first)
    assert not any(name == "anthroproxy_requests_total" for name, _ in samples(second))
    first.active_streams.inc()
    assert samples(first)[("anthroproxy_active_streams", ())] == 1
    body, content_type = first.render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text") and body.endswith(b"# EOF\n")


def test_estimated_usage_is_not_counted_as_tokens():
    metrics = Metrics()
    metrics.record(AccessRecord(method="POST", path="/v1/messages", request_id="r", route="messages", target="m",
                                status=200, usage={"input_tokens": 10, "output_tokens": 3}, usage_estimated=True), 1.0)
    assert not any(name == "anthroproxy_tokens_total" for name, _ in samples(metrics))
