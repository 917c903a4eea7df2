"""Routing and the failover policy, pure: candidates, verdicts, cooling with a
fake clock, replicas, key turns, sticky conversations."""

import pytest

from anthroproxy.config.routes import Choice, Needs, Route, Routes, needs_of
from anthroproxy.config.spec import SpecError, UpstreamSpec, expand
from anthroproxy.core.errors import UpstreamHTTPError, UpstreamProtocolError, UpstreamTimeout, UpstreamUnreachable
from anthroproxy.upstream.balancer import Balancer, conversation_of, rendezvous
from anthroproxy.upstream.failover import (
    KEY_OUT_S,
    NEXT,
    NEXT_KEY,
    STOP,
    Candidate,
    Cooling,
    after_failure,
    candidates,
    last_failure,
    retry_after,
    verdict,
)

SPECS = {
    "default": UpstreamSpec(name="default", urls=("http://a/v1",)),
    "local": UpstreamSpec(name="local", urls=("http://l1/v1", "http://l2/v1")),
    "ds": UpstreamSpec(name="ds", urls=("http://ds/v1",), keys=("k1", "k2", "k3")),
}
ROUTE = Route(Choice("deepseek-chat", "ds"), (Choice("qwen3:32b", "local"), Choice("gpt-4o")))


def http(status, **headers):
    return UpstreamHTTPError(status, "x", upstream_status=status, headers=tuple(headers.items()))


def plan(route=ROUTE, *, balancer=None, cooling=None, in_flight=None, conversation=None, now=0.0):
    balancer, cooling = balancer or Balancer(), cooling or Cooling()
    return candidates(route, SPECS, cooling, now=now, keys=balancer.keys,
                      replicas=lambda spec: balancer.replicas(spec, in_flight or {}, conversation, cooling, now))


def test_a_route_expands_into_a_candidate_per_replica_and_key_in_order():
    assert [str(c) for c in plan()] == [
        "deepseek-chat@ds (http://ds/v1 key 1)", "deepseek-chat@ds (http://ds/v1 key 2)",
        "deepseek-chat@ds (http://ds/v1 key 3)", "qwen3:32b@local (http://l1/v1)", "qwen3:32b@local (http://l2/v1)",
        "gpt-4o@default (http://a/v1)"]
    assert [c.choice for c in plan()] == [0, 0, 0, 1, 1, 2]


def test_keys_are_taken_in_turn_as_they_are_sent():
    balancer = Balancer()
    firsts = []
    for _ in range(4):
        first = plan(balancer=balancer)[0]
        firsts.append(first.key)
        balancer.took(first, SPECS["ds"])
    assert firsts == [0, 1, 2, 0]


def test_a_fallbacks_keys_turn_only_when_it_is_used():
    balancer = Balancer()
    fallback = Route(Choice("gpt-4o"), (Choice("deepseek-chat", "ds"),))
    for _ in range(5):
        plan(fallback, balancer=balancer)  # (the primary answers: the fallback's keys wait)
    used = plan(fallback, balancer=balancer)[1]
    assert used.key == 0
    balancer.took(used, SPECS["ds"])
    assert plan(fallback, balancer=balancer)[1].key == 1


@pytest.mark.parametrize(
    ("error", "expected"),
    [(UpstreamUnreachable("refused"), NEXT), (UpstreamTimeout("no answer"), NEXT),
     (UpstreamProtocolError("cut before content"), NEXT), (UpstreamHTTPError(502, "in stream"), NEXT),
     *((http(status), NEXT) for status in (408, 429, 500, 502, 503, 504, 529)),
     (http(401), NEXT_KEY), (http(403), NEXT_KEY), (http(402), NEXT),
     *((http(status), STOP) for status in (400, 404, 413, 422, 409)),
     (UpstreamHTTPError(400, "prompt is too long", upstream_status=500), STOP),
     *((UpstreamHTTPError(status, "in stream"), STOP) for status in (400, 404, 413, 422)),  # its chunk's code
     (UpstreamHTTPError(500, "in stream"), NEXT), (UpstreamHTTPError(429, "in stream"), NEXT)],
)
def test_what_moves_on(error, expected):
    assert verdict(error, Candidate("up", "http://a/v1", 0, "m")) == expected


# ---- after_failure: the whole decision after a failure -------------------------------------------


def decide(error, failed=None, *, remaining=None, errors=None, cooling=None, now=0.0, **options):
    """after_failure over the plan of ROUTE, ``failed`` being tried: (its decision, the cooling)."""
    everything = plan()
    failed = failed or everything[0]
    remaining = [c for c in everything if c != failed] if remaining is None else remaining
    cooling = cooling or Cooling()
    decision = after_failure(error, failed, remaining=remaining, errors=errors or [error], cooling=cooling, now=now,
                             **options)
    return decision, cooling


def test_a_failure_that_moves_on_gives_the_rest_of_the_route_in_order():
    everything = plan()
    decision, cooling = decide(http(503))
    assert decision.following == tuple(everything[1:]) and not decision.key_out
    assert cooling.cooling(everything[0], 1) and not cooling.cooling(everything[1], 1)  # that key, model and replica


def test_a_replica_that_cannot_be_reached_takes_all_its_keys_out_of_the_rest():
    local = plan()[3]  # qwen3:32b@local at l1
    decision, _ = decide(UpstreamUnreachable("refused"), local, remaining=plan()[4:])
    assert [str(c) for c in decision.following] == ["qwen3:32b@local (http://l2/v1)", "gpt-4o@default (http://a/v1)"]
    cooled = Cooling()
    cooled.failed(local, UpstreamUnreachable("refused"), now=0)
    decision, _ = decide(http(503), plan()[0], remaining=plan()[1:], cooling=cooled)
    assert local not in decision.following and plan()[4] in decision.following  # (what started cooling meanwhile)


def test_a_refused_key_tries_the_same_choice_with_the_other_keys_first():
    everything = plan()
    middle = everything[1]  # key 2 of deepseek-chat@ds
    rest = [everything[3], everything[0], everything[4], everything[2], everything[5]]  # (shuffled: order is decided)
    decision, cooling = decide(http(401), middle, remaining=rest)
    assert [c.key for c in decision.following[:2]] == [0, 2]
    assert decision.following[2:] == (everything[3], everything[4], everything[5]) and decision.key_out
    assert cooling.cooling(Candidate("ds", "http://ds/v1", 1, "any-model"), 1)  # a 401: the key, for every model


def test_a_refused_key_with_no_other_key_stops_with_its_own_error():
    error = http(403)
    decision, cooling = decide(error, plan()[5], remaining=[])
    assert decision.following == () and decision.answer is error and decision.key_out
    assert cooling.cooling(plan()[5], 1) and not cooling.cooling(Candidate("default", "http://a/v1", None, "o"), 1)


@pytest.mark.parametrize("error", [http(400), http(404), UpstreamHTTPError(400, "prompt is too long", upstream_status=500),
                                   UpstreamHTTPError(422, "in stream")])
def test_a_failure_that_stops_cools_nothing_and_is_the_answer(error):
    decision, cooling = decide(error)
    assert decision.following == () and decision.answer is error and cooling.count(1) == 0


def test_when_nothing_is_left_the_client_gets_the_last_failure_with_the_soonest_retry():
    first, last = http(429, **{"retry-after": "40"}), http(429, **{"retry-after": "90"})
    decision, _ = decide(last, plan()[5], remaining=[], errors=[first, last])
    assert decision.following == () and decision.answer is last
    assert dict(decision.answer.headers)["retry-after"] == "40"


def test_after_content_nothing_follows_but_the_candidate_cools():
    decision, cooling = decide(http(503), after_content=True)
    assert decision.following == () and cooling.cooling(plan()[0], 1)
    decision, cooling = decide(UpstreamTimeout("silent mid-stream"), plan()[3], after_content=True)
    assert not cooling.url_cooling("http://l1/v1", 1) and cooling.cooling(plan()[3], 1)  # the model, not the replica


def test_the_clients_own_key_refused_stops_and_takes_nothing_out():
    client = Candidate("default", "http://a/v1", None, "gpt-4o")
    decision, cooling = decide(http(401), client, remaining=[], clients_key=True)
    assert decision.following == () and not decision.key_out and cooling.count(1) == 0


@pytest.mark.parametrize("status", [401, 402, 403])
def test_a_refused_client_key_stops_and_cools_nothing(status):
    client = Candidate("up", "http://a/v1", None, "m")
    cooling = Cooling()
    assert verdict(http(status), client, clients_key=True) == STOP
    assert cooling.failed(client, http(status), now=0, clients_key=True) is False and cooling.count(1) == 0


@pytest.mark.parametrize(("status", "expected"), [(401, NEXT_KEY), (402, NEXT), (403, NEXT_KEY)])
def test_a_refused_credential_header_is_the_proxys_not_the_clients(status, expected):
    """No key of its own in the pool, but an api-key header: the refusal is the
    config's, so it moves on and takes the credential out."""
    azure = Candidate("azure", "http://a/v1", None, "m")
    cooling = Cooling()
    assert verdict(http(status), azure) == expected
    assert cooling.failed(azure, http(status), now=0) is True and cooling.cooling(azure, 1)


def test_a_silence_after_content_cools_the_model_not_the_replica():
    big, small = Candidate("local", "http://l1/v1", None, "big"), Candidate("local", "http://l1/v1", None, "small")
    cooling = Cooling(cooldown_s=30)
    cooling.failed(big, UpstreamTimeout("silent mid-stream"), now=0, after_content=True)
    assert cooling.cooling(big, 1) and not cooling.cooling(small, 1)
    cooling.failed(big, UpstreamTimeout("no head"), now=0)
    assert cooling.cooling(small, 1)


def test_a_403_for_flagged_content_is_the_clients_and_cools_no_key():
    error = UpstreamHTTPError(403, 'Your chosen model requires moderation and your input was flagged for "x"',
                              upstream_status=403)
    keyed = Candidate("or", "http://or/v1", 0, "m")
    cooling = Cooling()
    assert verdict(error, keyed) == STOP and cooling.failed(keyed, error, now=0) is False and cooling.count(1) == 0


def test_a_429_to_the_clients_own_key_moves_on_but_cools_nothing_for_others():
    client = Candidate("up", "http://a/v1", None, "m")
    cooling = Cooling()
    assert verdict(http(429, **{"retry-after": "600"}), client) == NEXT
    cooling.failed(client, http(429, **{"retry-after": "600"}), now=0, clients_key=True)
    assert not cooling.cooling(client, 1)
    cooling.failed(client, http(503), now=0, clients_key=True)  # the server's state: everyone's
    assert cooling.cooling(client, 1)


def test_cooling_by_kind_with_a_fake_clock():
    cooling = Cooling(cooldown_s=30)
    ds1, ds2, l1, l1_other_model, l2 = (Candidate("ds", "http://ds/v1", 0, "deepseek-chat"),
                                        Candidate("ds", "http://ds/v1", 1, "deepseek-chat"),
                                        Candidate("local", "http://l1/v1", None, "qwen3:32b"),
                                        Candidate("local", "http://l1/v1", None, "qwen3:8b"),
                                        Candidate("local", "http://l2/v1", None, "qwen3:32b"))
    cooling.failed(ds1, http(429, **{"retry-after": "12"}), now=100)
    assert cooling.cooling(ds1, 111) and not cooling.cooling(ds1, 112) and not cooling.cooling(ds2, 101)
    cooling.failed(l1, UpstreamUnreachable("refused"), now=100)  # the replica's URL: every model on it
    assert cooling.cooling(l1_other_model, 129) and not cooling.cooling(l1_other_model, 130)
    cooling.failed(l1, UpstreamTimeout("silent"), now=140)  # a timeout too
    assert cooling.cooling(l1_other_model, 169) and not cooling.cooling(l1_other_model, 170)
    cooling.failed(l1, http(500), now=200)  # an HTTP error: that model, on that replica
    assert cooling.cooling(l1, 229) and not cooling.cooling(l1_other_model, 201) and not cooling.cooling(l2, 201)
    assert cooling.failed(ds2, http(401), now=300) is True  # a refused key: every model, for long
    assert cooling.until(Candidate("ds", "http://ds/v1", 1, "other"), 300) == 300 + KEY_OUT_S
    assert cooling.failed(ds2, http(401), now=301) is False  # (already out: one ERROR line, not one a request)
    assert cooling.count(302) == 1 and cooling.upstream_state(SPECS["ds"], 302) == {
        "state": "cooling", "cooling_s": {"key 2": KEY_OUT_S - 1}}
    assert cooling.upstream_state(SPECS["default"], 302) == {"state": "ok"}


def test_a_403_takes_the_key_out_for_that_model_and_a_402_for_all():
    cooling = Cooling()
    ds1, other_model = Candidate("ds", "http://ds/v1", 0, "deepseek-chat"), Candidate("ds", "http://ds/v1", 0, "r1")
    assert cooling.failed(ds1, http(403), now=0) is True
    assert cooling.cooling(ds1, KEY_OUT_S - 1) and not cooling.cooling(other_model, 1)
    assert cooling.failed(other_model, http(402), now=10) is True
    assert cooling.cooling(Candidate("ds", "http://ds/v1", 0, "third"), KEY_OUT_S)


def test_health_names_a_key_only_for_a_pool_and_a_replica_only_among_several():
    cooling = Cooling(cooldown_s=30)
    one_key = UpstreamSpec(name="one", urls=("http://one/v1",), keys=("k",))
    cooling.failed(Candidate("one", "http://one/v1", 0, "m"), http(503), now=0)
    cooling.failed(Candidate("ds", "http://ds/v1", 2, "deepseek-chat"), http(503), now=0)
    cooling.failed(Candidate("local", "http://l2/v1", None, "qwen"), http(503), now=0)
    cooling.failed(Candidate("local", "http://user:secret@l1/v1?key=s", None, "q"), UpstreamUnreachable("x"), now=0)
    assert cooling.upstream_state(one_key, 10) == {"state": "cooling", "cooling_s": {"m": 20.0}}
    assert cooling.upstream_state(SPECS["ds"], 10) == {"state": "cooling", "cooling_s": {"deepseek-chat with key 3": 20.0}}
    replicas = UpstreamSpec(name="local", urls=("http://user:secret@l1/v1?key=s", "http://l2/v1"))
    assert cooling.upstream_state(replicas, 10) == {"state": "cooling", "cooling_s": {
        "http://l1/v1": 20.0, "qwen at http://l2/v1": 20.0}}


def test_the_dashboard_board_shows_keys_taken_out_replicas_and_models_cooling_with_why():
    cooling = Cooling(cooldown_s=30)
    cooling.failed(Candidate("ds", "http://ds/v1", 1, "deepseek-chat"), http(401), now=0)  # key 2, for every model
    cooling.failed(Candidate("ds", "http://ds/v1", 2, "deepseek-chat"), http(403), now=0)  # key 3, that model
    cooling.failed(Candidate("ds", "http://ds/v1", 0, "r1"), http(429, **{"retry-after": "20"}), now=0)
    board = cooling.board(SPECS["ds"], 10)
    assert board["state"] == "cooling" and board["keys"] == 3
    assert board["keys_out"] == [{"key": 2, "seconds": KEY_OUT_S - 10, "why": "HTTP 401: key taken out"}]
    assert board["models"] == [
        {"model": "deepseek-chat", "key": 3, "seconds": KEY_OUT_S - 10, "why": "HTTP 403: key taken out"},
        {"model": "r1", "key": 1, "url": None, "seconds": 10.0, "why": "HTTP 429"}]
    assert "k2" not in repr(board)  # (a key by its number, never its secret)
    cooling.failed(Candidate("local", "http://l1/v1", None, "q"), UpstreamUnreachable("x"), now=0)
    local = cooling.board(SPECS["local"], 10)
    assert local["replicas"] == [{"url": "http://l1/v1", "seconds": 20.0, "why": "unreachable"},
                                 {"url": "http://l2/v1", "seconds": 0, "why": ""}]
    assert cooling.board(SPECS["ds"], KEY_OUT_S + 1) == {
        "state": "ok", "protocol": SPECS["ds"].protocol, "replicas": [{"url": "http://ds/v1", "seconds": 0, "why": ""}],
        "keys": 3, "keys_out": [], "models": []}


@pytest.mark.parametrize(("headers", "seconds"), [
    ({}, 30.0), ({"retry-after": "5"}, 5.0), ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
    ({"retry-after": "86400"}, 600.0), ({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}, 30.0),
    ({"retry-after": "0"}, 30.0)])
def test_retry_after(headers, seconds):
    assert retry_after(http(429, **headers)) == seconds


def test_cooling_candidates_are_skipped_and_when_all_cool_the_first_to_recover_is_tried():
    cooling = Cooling()
    route = Route(Choice("a-model"), (Choice("qwen3:32b", "local"),))
    first, *rest = plan(route)
    cooling.failed(first, http(503), now=0)
    assert plan(route, cooling=cooling, now=1) == rest
    for candidate in rest:
        cooling.failed(candidate, http(429, **{"retry-after": "5"}), now=2)  # these cool down at 7, the first at 30
    assert [c.url for c in plan(route, cooling=cooling, now=3)] == ["http://l1/v1"]


def test_replicas_least_busy_first_and_a_conversation_sticks_to_its_own():
    balancer, cooling, local = Balancer(), Cooling(), Route(Choice("qwen", "local"))
    order = lambda **kw: [c.url for c in plan(local, balancer=balancer, cooling=cooling, **kw)]  # noqa: E731
    assert order(in_flight={"http://l1/v1": 1}) == ["http://l2/v1", "http://l1/v1"]
    assert order(in_flight={}) == ["http://l1/v1", "http://l2/v1"]  # ties: the configured order
    balancer.served("conv-1", "http://l2/v1")
    assert order(conversation="conv-1", in_flight={"http://l2/v1": 1}) == ["http://l2/v1", "http://l1/v1"]
    assert order(conversation="conv-1", in_flight={"http://l2/v1": 2}) == ["http://l1/v1", "http://l2/v1"]  # busier
    cooling.failed(Candidate("local", "http://l2/v1", None, "qwen"), UpstreamUnreachable("x"), now=0)
    assert order(conversation="conv-1", now=1) == ["http://l1/v1"]  # cooling: it moves
    assert order(conversation="conv-2", now=31) == ["http://l1/v1", "http://l2/v1"]


def test_a_new_conversation_goes_to_its_rendezvous_replica_the_same_in_every_instance():
    urls = tuple(f"http://r{n}/v1" for n in range(5))
    spec = UpstreamSpec(name="many", urls=urls)
    homes = {}
    for n in range(200):
        conversation = f"session:{n}"
        chosen = {Balancer().replicas(spec, {}, conversation, Cooling(), 0)[0] for _ in range(3)}  # three instances
        assert chosen == {rendezvous(conversation, urls)}
        homes[conversation] = chosen.pop()
    assert {urls.count(url) for url in homes.values()} == {1} and len(set(homes.values())) == 5  # spread over all
    fewer = urls[1:]  # a replica taken away: only its conversations move
    assert all(rendezvous(c, fewer) == home for c, home in homes.items() if home != urls[0])


def test_with_several_instances_the_key_turns_start_anywhere():
    firsts = {Balancer(first_key=lambda n, i=i: i % n).keys(SPECS["ds"])[0] for i in range(3)}
    assert firsts == {0, 1, 2}


def test_when_all_fail_the_last_failure_a_429_with_the_shortest_stated_retry_after():
    assert last_failure([http(429, **{"retry-after": "7"}), http(503)]).upstream_status == 503
    errors = [http(429, **{"retry-after": "40"}), http(429, **{"retry-after-ms": "7000"}), http(429)]
    answer = last_failure(errors)
    assert answer is errors[2] and dict(answer.headers) == {"retry-after-ms": "7000"}
    assert dict(last_failure([http(429, **{"retry-after": "9"}), http(429, **{"retry-after": "40"})]).headers) == {
        "retry-after": "9"}


# ---- routes -----------------------------------------------------------------------------------

ROUTES = Routes(default=Route(Choice("deepseek-chat", "ds")), long_context=Route(Choice("gemini", "g")),
                long_context_over=60_000, images=Route(Choice("gpt-4o")), web_search=Route(Choice("sonar", "or")),
                thinking=Route(Choice("deepseek-reasoner", "ds")))


@pytest.mark.parametrize(("needs", "name"), [
    (Needs(), "default"), (Needs(thinking=True), "thinking"), (Needs(images=True, thinking=True), "images"),
    (Needs(web_search=True, thinking=True), "web_search"), (Needs(input_tokens=60_000), "default"),
    (Needs(input_tokens=60_001, images=True, web_search=True, thinking=True), "long_context")])
def test_the_first_scenario_that_applies_wins(needs, name):
    chosen, route = ROUTES.choose(needs)
    assert chosen == name and route is (ROUTES.default if name == "default" else getattr(ROUTES, name))


def test_a_model_entry_without_scenarios_always_takes_its_route():
    assert Routes(default=ROUTE).choose(Needs(thinking=True, images=True, input_tokens=10**6)) == ("default", ROUTE)


def test_needs_of_a_request():
    body = {"model": "m", "max_tokens": 5, "thinking": {"type": "adaptive"},
            "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            "messages": [{"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t", "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * 9000}}]},
                {"type": "text", "text": "x" * 4000}]}]}
    needs = needs_of(body)
    assert (needs.thinking, needs.web_search, needs.images) == (True, True, True)
    assert 1000 <= needs.input_tokens < 1100  # the text, not the image's base64
    plain = needs_of({"messages": [{"role": "user", "content": "hi"}], "thinking": {"type": "disabled"}})
    assert (plain.thinking, plain.web_search, plain.images, plain.input_tokens) == (False, False, False, 1)


def test_a_conversation_is_claude_codes_session_else_its_opening():
    opening = {"system": "s", "messages": [{"role": "user", "content": "hi"}]}
    later = {**opening, "messages": [*opening["messages"], {"role": "assistant", "content": "yo"},
                                     {"role": "user", "content": "more"}]}
    assert conversation_of({}, opening) == conversation_of({}, later) != conversation_of({}, {**opening, "system": "t"})
    assert conversation_of({"x-claude-code-session-id": "abc"}, opening) == "session:abc"
    user_id = '{"device_id": "d", "account_uuid": "", "session_id": "5f1c-77"}'
    assert conversation_of({}, {**opening, "metadata": {"user_id": user_id}}) == "session:5f1c-77"
    legacy = "user_abc123_account__session_0b7e2c1a-1111-2222-3333-444455556666"
    assert conversation_of({}, {**opening, "metadata": {"user_id": legacy}}) == (
        "session:0b7e2c1a-1111-2222-3333-444455556666")


# ---- specs ------------------------------------------------------------------------------------

def test_specs_are_checked():
    with pytest.raises(SpecError, match=r"upstreams.x.url: at least one URL"):
        UpstreamSpec(name="x", urls=())
    with pytest.raises(SpecError, match=r"listed twice"):
        UpstreamSpec(name="x", urls=("http://a", "http://a"))
    with pytest.raises(SpecError, match=r"a name is letters"):
        UpstreamSpec(name="a b", urls=("http://a",))


def test_variables_are_expanded_and_a_missing_one_is_named():
    assert expand("Bearer ${KEY}-${K2}", {"KEY": "s3", "K2": "x"}, "where") == "Bearer s3-x"
    with pytest.raises(SpecError, match=r"upstreams.ds.api_key: \$\{DEEPSEEK_API_KEY\} is not set"):
        expand("${DEEPSEEK_API_KEY}", {}, "upstreams.ds.api_key")


def test_only_an_entry_with_scenarios_looks_at_the_request():
    assert not Routes(default=ROUTE).has_scenarios
    assert Routes(default=ROUTE, thinking=Route(Choice("r1"))).has_scenarios


def test_a_choice_listed_twice_is_one_candidate():
    twice = Route(Choice("gpt-4o"), (Choice("qwen3:32b", "local"), Choice("gpt-4o")))
    assert [str(c) for c in plan(twice)] == [
        "gpt-4o@default (http://a/v1)", "qwen3:32b@local (http://l1/v1)", "qwen3:32b@local (http://l2/v1)"]


def test_logs_show_a_url_without_its_user_password_or_query():
    assert str(Candidate("x", "https://me:pw@host:8443/v1?token=t", 0, "m")) == "m@x (https://host:8443/v1 key 1)"


def test_each_candidate_speaks_its_choices_protocol_else_its_upstreams():
    specs = {**SPECS, "claude": UpstreamSpec(name="claude", urls=("http://c",), protocol="anthropic"),
             "openai": UpstreamSpec(name="openai", urls=("http://o/v1",))}
    route = Route(Choice("claude-opus-4-6", "claude"), (Choice("gpt-5-codex", "openai", "responses"),
                                                         Choice("gpt-4o", "openai"), Choice("gpt-4o", "openai")))
    planned = candidates(route, specs, Cooling(), now=0, keys=Balancer().keys, replicas=lambda spec: list(spec.urls))
    assert [(c.target, c.protocol) for c in planned] == [
        ("claude-opus-4-6", "anthropic"), ("gpt-5-codex", "responses"), ("gpt-4o", "chat")]  # (a repeat, once)
    assert str(planned[1]) == "gpt-5-codex@openai (http://o/v1, responses)"
