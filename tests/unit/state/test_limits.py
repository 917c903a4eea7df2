"""Client limits in process: a sliding minute of requests and tokens, and a daily budget to 00:00 UTC."""

from anthroproxy.config.clients import ClientSpec
from anthroproxy.state.limits import Limits

DAY = 86400
NOON = 20000 * DAY + 12 * 3600  # a UTC noon


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def client(**limits) -> ClientSpec:
    return ClientSpec("alice", "0" * 64, **limits)


def test_requests_per_minute_in_any_sixty_seconds():
    clock = Clock(NOON)
    limits, alice = Limits(clock), client(rpm=3)
    assert [limits.check(alice)[0] is None for _ in range(5)] == [True, True, True, False, False]
    refusal, headers = limits.check(alice)
    assert refusal.kind == "rpm" and refusal.retry_after == 60 and "3 requests per minute" in refusal.message
    assert dict(headers)["anthropic-ratelimit-requests-remaining"] == "0"
    clock.now += 59.5
    assert limits.check(alice)[0] is not None
    clock.now += 0.6
    refusal, headers = limits.check(alice)
    assert refusal is None and dict(headers)["anthropic-ratelimit-requests-remaining"] == "2"  # (the 3 expired; 1 new)


def test_tokens_per_minute_count_what_requests_spent():
    clock = Clock(NOON)
    limits, alice = Limits(clock), client(tpm=1000)
    assert limits.check(alice)[0] is None
    limits.spent(alice, 600)
    refusal, headers = limits.check(alice)
    assert refusal is None and dict(headers)["anthropic-ratelimit-tokens-remaining"] == "400"
    limits.spent(alice, 500)
    clock.now += 10
    refusal, _ = limits.check(alice)
    assert refusal.kind == "tpm" and refusal.retry_after == 50
    clock.now += 51
    assert limits.check(alice)[0] is None


def test_the_daily_budget_lasts_until_midnight_utc_and_says_when():
    clock = Clock(NOON)
    limits, alice = Limits(clock), client(daily_tokens=1000)
    limits.spent(alice, 999)
    assert limits.check(alice)[0] is None
    limits.spent(alice, 1)
    refusal, _ = limits.check(alice)
    assert refusal.kind == "daily_tokens" and refusal.retry_after == 12 * 3600
    assert "resets at 00:00 UTC, in 12h 00m" in refusal.message
    clock.now = 20001 * DAY + 1
    assert limits.check(alice)[0] is None


def test_a_client_without_limits_is_never_refused_and_gets_no_headers():
    limits, bob = Limits(Clock(NOON)), client()
    for _ in range(100):
        refusal, headers = limits.check(bob)
        assert refusal is None and headers == ()
    limits.spent(bob, 10 ** 9)
    assert limits.check(bob)[0] is None
