import pytest

from anthroproxy.config import SETTINGS


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No test sees the developer's settings: config env vars are removed and the
    working directory (where .env is read) is an empty temporary folder."""
    for _flag, env, _field, _metavar in SETTINGS:
        monkeypatch.delenv(env, raising=False)
    monkeypatch.chdir(tmp_path)
