"""The dashboard's per-process figures (observe/live.py): a fixed ring, sums
that merge across processes, sessions bounded in number and age."""

from __future__ import annotations

import hashlib
from pathlib import Path

from anthroproxy.observe import live
from anthroproxy.observe.live import Live, charts, merge, percentile
from anthroproxy.observe.logs import AccessRecord

NOW = 1_800_000_000.0


def answered(n: int = 0, *, client: str | None = "alice", first_event_s: float | None = 0.3, status: int = 200,
             failovers: int = 0) -> AccessRecord:
    return AccessRecord(method="POST", path="/v1/messages", request_id=f"req_{n}", model="claude-x", target="m1",
                        upstream="main", status=status, client=client, first_event_s=first_event_s,
                        failovers=failovers, usage={"input_tokens": 10, "output_tokens": 5,
                                                    "cache_read_input_tokens": 100})


def test_the_recent_ring_keeps_the_last_200_newest_first_in_the_same_slots():
    board = Live()
    for n in range(450):
        board.record(answered(n), 0.1, NOW + n)
    recent = board.part(NOW + 450)["recent"]
    assert [row["request_id"] for row in recent] == [f"req_{n}" for n in range(449, 249, -1)]
    assert len(board._recent) == live.RECENT  # (no growth: a slot is overwritten, nothing appended)


def test_per_second_counts_forget_what_left_the_window():
    board = Live()
    board.record(answered(1, status=529), 0.1, NOW)
    board.record(answered(2, failovers=2), 0.1, NOW + 1)
    board.record(answered(3), 0.1, NOW + live.WINDOW_S)  # (reuses the first one's slot)
    assert sorted(board.part(NOW + live.WINDOW_S)["seconds"]) == [[int(NOW) + 1, 1, 0, 2],
                                                                  [int(NOW) + live.WINDOW_S, 1, 0, 0]]
    assert board.part(NOW + live.WINDOW_S + 1)["seconds"] == [[int(NOW) + live.WINDOW_S, 1, 0, 0]]


def test_parts_of_several_processes_merge_by_adding():
    one, two = Live(), Live()
    one.record(answered(1, first_event_s=0.09), 0.1, NOW)
    two.record(answered(2, first_event_s=0.9), 0.1, NOW + 0.5)
    two.active_streams = 3
    merged = merge([one.part(NOW + 1), two.part(NOW + 1)])
    assert merged["processes"] == 2 and merged["active_streams"] == 3
    assert [row["request_id"] for row in merged["recent"]] == ["req_2", "req_1"]
    drawn = charts(merged)
    assert drawn["tokens"]["by_model"] == {"m1": [230]} and drawn["tokens"]["by_upstream"] == {"main": [230]}
    assert drawn["first_event"]["window"]["m1"] == {"p50": 100.0, "p95": 1000.0, "count": 2}
    assert sum(drawn["traffic"]["requests"]) * 10 == 2


def test_a_percentile_is_the_bound_of_its_bucket():
    buckets = [0] * (len(live.FIRST_EVENT_MS) + 1)
    buckets[live.FIRST_EVENT_MS.index(200)] = 19
    buckets[-1] = 1  # (one past the last bound)
    assert percentile(buckets, 0.5) == 200.0 and percentile(buckets, 1.0) == float(live.FIRST_EVENT_MS[-1])
    assert percentile([0] * len(buckets), 0.5) is None


def test_sessions_add_up_and_are_bounded_in_number_and_age(monkeypatch):
    monkeypatch.setattr(live, "SESSIONS", 3)
    board = Live()
    board.record(answered(1, failovers=1), 0.1, NOW, "s1")
    board.record(answered(2), 0.1, NOW + 1, "s1")
    assert board.session("s1", NOW + 2).figures() | {"updated": 0} == {
        "requests": 2, "input_tokens": 20, "cache_read_input_tokens": 200, "cache_creation_input_tokens": 0,
        "output_tokens": 10, "failovers": 1, "target": "m1", "upstream": "main", "updated": 0, "client": "alice"}
    for n in range(2, 6):
        board.record(answered(n), 0.1, NOW + n, f"s{n}")
    assert list(board.sessions) == ["s3", "s4", "s5"]
    assert board.session("s5", NOW + 5 + live.SESSION_LIFE_S + 1) is None


def test_the_vendored_chart_library_is_the_npm_release_it_says():
    """uPlot 1.6.32 from npm (`npm pack uplot@1.6.32`), its files unchanged."""
    folder = Path(live.__file__).parents[1] / "static" / "dashboard" / "vendor" / "uplot-1.6.32"
    listed = dict(line.split()[::-1] for line in (folder / "SHA256SUMS").read_text().splitlines())
    assert set(listed) == {"uPlot.iife.min.js", "uPlot.min.css", "LICENSE"}
    for name, digest in listed.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
