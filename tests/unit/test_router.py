import pytest

from anthroproxy.errors import MethodNotAllowed, NotFound
from anthroproxy.router import route, split_target


@pytest.mark.parametrize(
    ("method", "target", "handler"),
    [("POST", "/v1/messages", "messages"), ("POST", "/v1/messages?beta=true", "messages"), ("GET", "/health", "health"),
     ("GET", "/health?x=1#frag", "health"), ("POST", "/v1/messages/count_tokens?beta=true", "count_tokens"),
     ("GET", "/v1/models?limit=1000", "list_models"), ("GET", "/v1/models/claude-x", "get_model"),
     ("GET", "/", "root"), ("HEAD", "/", "root"), ("HEAD", "/api/hello", "root"), ("HEAD", "/v1/models", "list_models"), ("GET", "/metrics", "metrics")],
)
def test_routes(method, target, handler):
    assert route(method, target) == handler


@pytest.mark.parametrize("target", ["/v1/nothing?beta=true", "/v1/models/", "/v1/modelsx", "/v1/messages/"])
def test_unknown_path_is_404(target):
    with pytest.raises(NotFound, match=split_target(target)[0]):
        route("POST", target)


def test_wrong_method_is_405_with_allow():
    with pytest.raises(MethodNotAllowed) as caught:
        route("GET", "/v1/messages")
    assert caught.value.status == 405
    assert caught.value.headers == (("allow", "POST"),)
    with pytest.raises(MethodNotAllowed) as caught:
        route("POST", "/v1/models/claude-x")
    assert caught.value.headers == (("allow", "GET, HEAD"),)


def test_split_target_drops_the_fragment():
    assert split_target("/v1/models?limit=2&after_id=a#x") == ("/v1/models", "limit=2&after_id=a")
    assert split_target("/") == ("/", "")
