"""Usage per client, model, upstream and UTC day, kept 31 days."""

from anthroproxy.state.usage import UsageLedger, counts_of

DAY = 86400


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_rows_add_up_by_day_client_model_and_upstream_and_go_after_31_days():
    clock = Clock(20000 * DAY + 3600)
    ledger = UsageLedger(clock)
    usage = {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100}
    ledger.record("alice", "claude-opus-4-6", "anthropic", counts_of(usage))
    ledger.record("alice", "claude-opus-4-6", "anthropic", counts_of({**usage, "output_tokens": 7}))
    ledger.record("bob", "claude-opus-4-6", "deepseek", counts_of({"input_tokens": 1, "output_tokens": True}))
    day = ledger.rows()[0]["date"]
    assert ledger.rows("alice") == [{"date": day, "client": "alice", "model": "claude-opus-4-6",
                                     "upstream": "anthropic", "requests": 2, "input_tokens": 20,
                                     "output_tokens": 12, "cache_read_input_tokens": 200,
                                     "cache_creation_input_tokens": 0}]
    assert [row["client"] for row in ledger.rows()] == ["bob", "alice"] and ledger.rows("bob")[0]["output_tokens"] == 0
    clock.now += 30 * DAY
    ledger.record("alice", "m", "u", counts_of({}))
    assert len(ledger.rows()) == 3
    clock.now += DAY
    assert [row["model"] for row in ledger.rows()] == ["m"]
