"""Client keys in the config file: each entry checked, keys found by their hash."""

import hashlib

import pytest

from anthroproxy.config import ConfigError, load_config
from anthroproxy.config.clients import Clients, ClientSpec


def load(tmp_path, toml: str, **variables):
    (tmp_path / "proxy.toml").write_text(toml)
    return load_config(["--config", str(tmp_path / "proxy.toml")], variables, None)


def test_clients_by_key_or_its_hash_with_models_and_limits(tmp_path):
    bob_hash = hashlib.sha256(b"sk-bob").hexdigest()
    config = load(tmp_path, f'''
[clients.alice]
key = "${{ALICE_KEY}}"
models = ["claude-*"]
rpm = 60
tpm = 400000
daily_tokens = 20000000
[clients.bob]
key_sha256 = "{bob_hash.upper()}"
''', ALICE_KEY="sk-alice")
    alice, bob = config.clients
    assert (alice.name, alice.models, alice.rpm, alice.tpm, alice.daily_tokens) == (
        "alice", ("claude-*",), 60, 400000, 20000000)
    assert bob.models is None and not bob.limited and bob.key_sha256 == bob_hash
    clients = Clients(config.clients)
    assert clients.find("sk-alice") is alice and clients.find("sk-bob") is bob
    assert clients.find("sk-carol") is None and clients.find(None) is None and clients.find("") is None
    assert alice.may_use("claude-sonnet-4-6") and not alice.may_use("gpt-5") and bob.may_use("anything")
    assert "sk-alice" not in repr(config)


@pytest.mark.parametrize(("entry", "message"), [
    ('rpm = 5', "key or key_sha256"),
    ('key = "a"\nkey_sha256 = "' + "0" * 64 + '"', "key or key_sha256"),
    ('key_sha256 = "abc"', "clients.alice.key_sha256: expected 64 hexadecimal digits"),
    ('key = ""', "clients.alice.key: an empty key"),
    ('key = "a"\nrpm = 0', "clients.alice.rpm: expected a whole number of at least 1"),
    ('key = "a"\ntpm = "lots"', "clients.alice.tpm: expected a whole number"),
    ('key = "a"\nmodels = "claude-*"', "clients.alice.models: expected a list"),
    ('key = "a"\nbudget = 5', "clients.alice: unknown key budget"),
    ('key = "${MISSING}"', "MISSING"),
])
def test_a_bad_entry_names_its_key(tmp_path, entry, message):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f"[clients.alice]\n{entry}\n")
    assert message in str(caught.value)


def test_two_clients_with_one_key_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="two clients have the same key"):
        load(tmp_path, '[clients.a]\nkey = "k"\n[clients.b]\nkey = "k"\n')


def test_a_mistyped_key_is_not_repeated(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "[clients.alice]\nkey = 12345678\n")
    assert "12345678" not in str(caught.value)


def test_a_client_name_fit_for_logs_and_labels():
    with pytest.raises(ValueError):
        Clients((ClientSpec("a", "0" * 64), ClientSpec("b", "0" * 64)))
