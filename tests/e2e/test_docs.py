"""README.md and docs/ must stay true: the options table, every command, flag,
example, link and endpoint they name works as written, and README stays a
first screen."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import httpx
import pytest
import trio

from anthroproxy.api.router import PREFIXES, ROUTES
from anthroproxy.config import SETTINGS, Config, build_parser, load_config
from anthroproxy.config.routes import needs_of
from tests.support.docs import PAGES, README, ROOT, blocks, everything
from tests.support.proxy import in_thread

CONFIGURATION = PAGES["configuration.md"]
README_LIMIT_BYTES = 12 * 1024
# Flags of other programs the pages mention: Claude Code's (tests/support/node.py runs it with them), and
# llama-server's (tests/backends/llamacpp.py starts it with --jinja).
OTHER_PROGRAMS_FLAGS = {"--output-format", "--allowedTools", "--verbose", "--tools", "--jinja"}
COMMANDS = ([sys.executable, "-m", "anthroproxy"], [sys.executable, "-m", "anthroproxy", "usage"],
            [sys.executable, "-m", "anthroproxy.demo"],
            [sys.executable, "-m", "anthroproxy.fake_upstream"], [sys.executable, str(ROOT / "bench" / "run.py")])


def test_readme_is_a_first_screen():
    assert len(README.encode()) < README_LIMIT_BYTES
    for page in PAGES:  # (and it leads to every page of the manual)
        assert f"](docs/{page})" in README, page


def test_options_table_lists_exactly_the_flags_their_env_vars_and_defaults():
    rows = re.findall(r"^\| `(--[a-z-]+) [A-Z]+` \| `([A-Z_]+)` \| `?([^|`]*?)`? \|", CONFIGURATION, re.M)
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
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == test_command


def flags_of(command: list[str]) -> set[str]:
    done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", done.stdout))


def test_every_flag_written_is_a_flag_of_the_command_it_belongs_to():
    known = set().union(*(flags_of(command) for command in COMMANDS)) | OTHER_PROGRAMS_FLAGS
    for name, text in everything().items():
        written = set(re.findall(r"(?<![\w-])(--[A-Za-z][A-Za-z-]*)", "\n".join(re.findall(r"`[^`\n]+`", text))))
        written |= {flag for block in blocks("sh", text) for flag in re.findall(r"(?<![\w-])(--[A-Za-z][A-Za-z-]*)",
                                                                                  block)}
        assert written - known == set(), name


def proxy_command_lines() -> list[list[str]]:
    """Every command line in a sh block that runs the proxy (``anthroproxy ...``), as arguments."""
    found = []
    for block in blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            for command in re.split(r"&&|&(?!&)", line):
                words = shlex.split(command)
                while words and "=" in words[0]:
                    words.pop(0)  # (VARIABLE=value before the command)
                if words[:1] == ["anthroproxy"] and words[1:2] != ["usage"]:  # (usage: a command of its own)
                    found.append(words[1:])
    return found


def test_every_proxy_command_line_parses():
    lines = proxy_command_lines()
    assert len(lines) >= 3
    for arguments in lines:
        flags = vars(build_parser().parse_args(arguments))  # (ConfigError, naming the flag, if not)
        assert all(value is None or isinstance(value, str) for value in flags.values())


def slug(heading: str) -> str:
    """A heading's anchor, as GitHub makes it."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_between_the_pages_leads_somewhere():
    for name, text in everything().items():
        folder = ROOT if name == "README.md" else ROOT / "docs"
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"https?://", target):
                continue
            path, _, anchor = target.partition("#")
            page = (folder / path).resolve() if path else folder / name
            assert page.exists(), (name, target)
            if anchor:
                headings = re.findall(r"(?m)^#{1,4} (.+)$", page.read_text())
                assert anchor in {slug(heading) for heading in headings}, (name, target)


def test_the_endpoints_table_is_the_router():
    table = re.findall(r"^\| `((?:GET|POST)[^`]*)`(?:, `((?:GET|POST)[^`]*)`)? \|", PAGES["endpoints.md"], re.M)
    documented = {(method, path) for row in table for cell in row if cell for method, path in [cell.split(" ", 1)]}
    routed = {(method, path) for path, methods in ROUTES.items() for method in methods}
    routed |= {(method, prefix + "{id}") for prefix, methods in PREFIXES.items() for method in methods}
    assert documented == routed


def test_embedding_example_runs():
    example = next(block for block in blocks("python") if "nursery.start(anthroproxy.serve" in block)
    result = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"proxy on http://127\.0\.0\.1:\d+\n", result.stdout)


async def test_the_sdk_example_runs_against_a_proxy(proxy, fake, capsys):
    example = next(block for block in blocks("python", README) if "anthropic.Anthropic(" in block)
    assert 'base_url="http://127.0.0.1:8080"' in example
    code = example.replace("http://127.0.0.1:8080", f"http://127.0.0.1:{proxy.port}")
    namespace: dict = {}
    await in_thread(exec, code, namespace)
    namespace["client"].close()  # (else its socket is left to the collector, which warns in a later test)
    assert capsys.readouterr().out == "Hello from anthroproxy's fake upstream! You said: Hi\n"
    assert fake.requests[-1].json["messages"][-1] == {"role": "user", "content": "Hi"}


def test_demo_streams_an_answer_without_a_key():
    result = subprocess.run([sys.executable, "-m", "anthroproxy.demo", "--delay", "0", "Hello, proxy"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Hello from anthroproxy's fake upstream! You said: Hello, proxy" in result.stdout
    assert "[stop_reason=end_turn" in result.stdout


async def test_the_fake_upstream_runs_alone_as_written(nursery):
    assert "`python -m anthroproxy.fake_upstream --port 9000`" in README
    process = await trio.lowlevel.open_process([sys.executable, "-m", "anthroproxy.fake_upstream", "--port", "0",
                                                "--delay", "0"], stdout=subprocess.PIPE)
    try:
        with trio.fail_after(20):
            line = b""
            while not line.endswith(b"\n"):
                line += await process.stdout.receive_some(1)
        url = re.search(r"http://\S+/v1", line.decode())[0]
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(f"{url}/chat/completions", json={
                "model": "m", "messages": [{"role": "user", "content": "ping"}]})
        assert answer.json()["choices"][0]["message"]["content"].endswith("You said: ping")
    finally:
        process.terminate()
        await process.wait()
        await process.stdout.aclose()


def test_tested_with_names_the_installed_client_versions():
    import anthropic

    from tests.support.node import ensure_installed

    clients = ensure_installed()
    rows = dict(re.findall(r"^\| [^|]*?`([@\w/.-]+)`[^|]*\| ([\d.]+) \|", PAGES["compatibility.md"], re.M))
    assert rows == {
        "@anthropic-ai/claude-code": clients.version("@anthropic-ai/claude-code"),
        "anthropic": anthropic.__version__,
        "@anthropic-ai/sdk": clients.version("@anthropic-ai/sdk"),
        "eventsource-parser": clients.version("eventsource-parser"),
        "gpt-tokenizer": clients.version("gpt-tokenizer"),
    }


def test_tested_with_names_the_llama_cpp_commit_the_tests_build():
    from tests.backends import llamacpp

    row = next(line for line in PAGES["compatibility.md"].splitlines()
               if line.startswith("| llama.cpp's `llama-server` (built"))
    assert f"llama-cpp-python {llamacpp.LLAMA_CPP_PYTHON}" in row and f"| commit {llamacpp.COMMIT} |" in row


def test_every_toml_example_loads(tmp_path):
    examples = blocks("toml")
    assert len(examples) >= 2
    variables = {name: "set" for block in examples for name in re.findall(r"\$\{([A-Z_0-9]+)\}", block)}
    for index, block in enumerate(examples):
        (tmp_path / f"{index}.toml").write_text(block)
        load_config(["--config", str(tmp_path / f"{index}.toml")], variables, None)


def test_the_recipe_routes_as_its_comments_say(tmp_path):
    recipe = next(block for block in blocks("toml") if "[upstreams.openrouter]" in block)
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


@pytest.mark.parametrize("page", sorted(PAGES))
def test_each_page_has_one_title(page):
    text = PAGES[page]
    assert len(re.findall(r"(?m)^# ", re.sub(r"```.*?```", "", text, flags=re.S))) == 1, page
    assert text.startswith("# "), page
