"""README.md must stay true: its options table, its commands and its examples."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from anthroproxy.config import SETTINGS, Config

README = (Path(__file__).parents[2] / "README.md").read_text()


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, re.S)


def test_options_table_lists_exactly_the_flags_their_env_vars_and_defaults():
    rows = re.findall(r"^\| `(--[a-z-]+) [A-Z]+` \| `([A-Z_]+)` \| `?([^|`]*?)`? \|", README, re.M)
    settings = [(flag, env) for flag, env, *_ in SETTINGS] + [("--config", "CONFIG_FILE")]
    assert sorted((flag, env) for flag, env, _ in rows) == sorted(settings)
    defaults = Config()
    for flag, _env, default in rows:
        if flag == "--config":
            assert default == "none"
            continue
        field = next(f for fl, _, f, _ in SETTINGS if fl == flag)
        value = getattr(defaults, field)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert float(default) == value, (flag, default, value)
        else:
            assert default == ("none" if value is None or not str(value) else str(value)), (flag, default, value)


def test_ci_runs_the_readme_test_command_exactly():
    test_command = "python -m pip install -e '.[test]' && python -m pytest"
    assert f"```sh\n{test_command}\n```" in README
    ci = (Path(__file__).parents[2] / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == test_command


def test_embedding_example_runs():
    example = next(block for block in python_blocks() if "nursery.start(anthroproxy.serve" in block)
    result = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"proxy on http://127\.0\.0\.1:\d+\n", result.stdout)


def test_demo_streams_an_answer_without_a_key():
    result = subprocess.run([sys.executable, "-m", "anthroproxy.demo", "--delay", "0", "Hello, proxy"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Hello from anthroproxy's fake upstream! You said: Hello, proxy" in result.stdout
    assert "[stop_reason=end_turn" in result.stdout


def test_tested_with_names_the_installed_client_versions():
    import anthropic

    from tests.support.node import ensure_installed

    clients = ensure_installed()
    rows = dict(re.findall(r"^\| [^|]*?`([@\w/.-]+)`[^|]*\| ([\d.]+) \|", README, re.M))
    assert rows == {
        "@anthropic-ai/claude-code": clients.version("@anthropic-ai/claude-code"),
        "anthropic": anthropic.__version__,
        "@anthropic-ai/sdk": clients.version("@anthropic-ai/sdk"),
        "eventsource-parser": clients.version("eventsource-parser"),
        "gpt-tokenizer": clients.version("gpt-tokenizer"),
    }


def test_tested_with_names_the_llama_cpp_commit_the_tests_build():
    from tests.backends import llamacpp

    row = next(line for line in README.splitlines() if line.startswith("| llama.cpp's `llama-server` (built"))
    assert f"llama-cpp-python {llamacpp.LLAMA_CPP_PYTHON}" in row and f"| commit {llamacpp.COMMIT} |" in row


def test_every_toml_example_loads(tmp_path):
    from anthroproxy.config import load_config

    blocks = re.findall(r"```toml\n(.*?)```", README, re.S)
    assert len(blocks) >= 2
    variables = {name: "set" for block in blocks for name in re.findall(r"\$\{([A-Z_0-9]+)\}", block)}
    for index, block in enumerate(blocks):
        (tmp_path / f"{index}.toml").write_text(block)
        load_config(["--config", str(tmp_path / f"{index}.toml")], variables, None)


def test_the_recipe_routes_as_its_comments_say(tmp_path):
    from anthroproxy.config import load_config
    from anthroproxy.config.routes import needs_of

    recipe = next(block for block in re.findall(r"```toml\n(.*?)```", README, re.S) if "[upstreams.openrouter]" in block)
    (tmp_path / "proxy.toml").write_text(recipe)
    config = load_config(["--config", str(tmp_path / "proxy.toml")],
                         {"DEEPSEEK_API_KEY": "d", "OPENROUTER_KEY_1": "1", "OPENROUTER_KEY_2": "2"}, None)
    ask = {"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    image = [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}]
    cases = {
        "default": ({}, "deepseek-chat|deepseek/deepseek-chat-v3.1@openrouter"),
        "thinking": ({"thinking": {"type": "adaptive"}}, "deepseek-reasoner|deepseek/deepseek-r1@openrouter"),
        "images": ({"messages": image, "thinking": {"type": "adaptive"}}, "openai/gpt-5-mini@openrouter"),
        "web_search": ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]},
                       "openai/gpt-5-mini:online@openrouter"),
        "long_context": ({"messages": [{"role": "user", "content": "word " * 90_000}]},
                         "google/gemini-2.5-flash@openrouter"),
    }
    for expected_name, (change, expected_route) in cases.items():
        name, route = config.routes_for("claude-sonnet-4-6").choose(needs_of({**ask, **change}))
        assert (name, str(route)) == (expected_name, expected_route)
    assert str(config.routes_for("claude-haiku-4-5-20251001").default) == "qwen3:8b@local|deepseek-chat"
    assert str(config.routes_for("claude-opus-4-6").default).startswith("deepseek-chat|")
