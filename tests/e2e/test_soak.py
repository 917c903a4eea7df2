"""A short soak (tests/soak.py): random client disconnects and upstream faults
leave no file descriptor, task or unbounded memory behind."""

from tests.support.soak import soak


async def test_soak_leaves_nothing_behind():
    result = await soak(requests=300, seconds=30, concurrency=12, seed=7)
    warm, after, before, stopped = (result[k] for k in ("warm", "after", "before_proxy", "stopped"))
    assert result["requests"] == 300
    assert result["upstream_disconnects"] > 10  # clients that left took their upstream request with them
    assert after["tasks"] <= warm["tasks"]
    assert after["fds"] <= warm["fds"] + 4  # (the upstream pools may keep a few more connections)
    assert after["rss_kib"] - warm["rss_kib"] < 30_000
    assert (stopped["fds"], stopped["tasks"]) == (before["fds"], before["tasks"])
