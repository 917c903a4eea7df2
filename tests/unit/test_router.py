import pytest

from anthroproxy.errors import MethodNotAllowed, NotFound
from anthroproxy.router import route


@pytest.mark.parametrize(
    ("method", "target", "handler"),
    [("POST", "/v1/messages", "messages"), ("POST", "/v1/messages?beta=true", "messages"), ("GET", "/health", "health"),
     ("GET", "/health?x=1#frag", "health")],
)
def test_routes(method, target, handler):
    assert route(method, target) == handler


def test_unknown_path_is_404():
    with pytest.raises(NotFound, match="/v1/nothing"):
        route("POST", "/v1/nothing?beta=true")


def test_wrong_method_is_405_with_allow():
    with pytest.raises(MethodNotAllowed) as caught:
        route("GET", "/v1/messages")
    assert caught.value.status == 405
    assert caught.value.headers == (("allow", "POST"),)
