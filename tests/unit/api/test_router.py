import pytest

from anthroproxy.api.router import route
from anthroproxy.core.errors import MethodNotAllowed, NotFound


@pytest.mark.parametrize(
    ("method", "target", "handler"),
    [("POST", "/v1/messages", "messages"), ("GET", "/health", "health"),
     ("POST", "/v1/messages/count_tokens", "count_tokens"),
     ("GET", "/v1/models", "list_models"), ("GET", "/v1/models/claude-x", "get_model"),
     ("GET", "/", "root"), ("HEAD", "/", "root"), ("HEAD", "/api/hello", "root"), ("HEAD", "/v1/models", "list_models"), ("GET", "/metrics", "metrics")],
)
def test_routes(method, target, handler):
    assert route(method, target) == handler


@pytest.mark.parametrize("path", ["/v1/nothing", "/v1/models/", "/v1/modelsx", "/v1/messages/"])
def test_unknown_path_is_404(path):
    with pytest.raises(NotFound, match=path):
        route("POST", path)


def test_wrong_method_is_405_with_allow():
    with pytest.raises(MethodNotAllowed) as caught:
        route("GET", "/v1/messages")
    assert caught.value.status == 405
    assert caught.value.headers == (("allow", "POST"),)
    with pytest.raises(MethodNotAllowed) as caught:
        route("POST", "/v1/models/claude-x")
    assert caught.value.headers == (("allow", "GET, HEAD"),)
