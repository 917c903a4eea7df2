from pathlib import Path

import pytest

from anthroproxy.config import Config, ConfigError, load_config
from anthroproxy.config.models import ModelMap


def test_defaults():
    config = load_config([], {}, None)
    assert config == Config()
    assert (config.host, config.port, config.target_url) == ("127.0.0.1", 8080, "https://api.openai.com/v1")
    assert (config.api_key, config.default_model, config.log_level) == (None, "gpt-5", "DEBUG")


def test_precedence_flags_then_env_then_dotenv_then_defaults(tmp_path):
    dotenv = tmp_path / "custom.env"
    dotenv.write_text("PORT=7000\nHOST=0.0.0.0\nDEFAULT_MODEL=from-dotenv\nLOG_LEVEL=error\n")
    environ = {"PORT": "7001", "HOST": "::1"}
    config = load_config(["--port", "7002"], environ, str(dotenv))
    assert config.port == 7002  # flag
    assert config.host == "::1"  # environment
    assert config.default_model == "from-dotenv"  # .env
    assert config.log_level == "ERROR"  # .env, normalized
    assert config.target_url == "https://api.openai.com/v1"  # default


def test_dotenv_in_working_directory_is_read_by_default(tmp_path):
    (tmp_path / ".env").write_text("MODEL_MAPPING=claude-haiku:qwen3:32b\nTARGET_API_KEY=sk-dotenv\n")
    config = load_config([], {})
    assert config.model_mapping == ModelMap((("claude-haiku", "qwen3:32b"),))
    assert config.api_key == "sk-dotenv"


def test_every_flag_sets_its_field():
    config = load_config(
        [
            "--port", "0", "--host", "::", "--target-url", "http://localhost:11434/v1/",
            "--api-key", "k", "--model-mapping", "a:b", "--default-model", "m", "--log-level", "warning",
        ],
        {},
        None,
    )
    assert (config.port, config.host, config.target_url) == (0, "::", "http://localhost:11434/v1")
    assert (config.api_key, config.default_model, config.log_level) == ("k", "m", "WARN")
    assert config.model_mapping.pairs == (("a", "b"),)


def test_empty_key_means_no_key():
    assert load_config([], {"TARGET_API_KEY": ""}, None).api_key is None


def test_api_key_is_not_in_repr():
    assert "sk-secret" not in repr(Config(api_key="sk-secret"))


@pytest.mark.parametrize(
    ("argv", "environ", "setting"),
    [
        (["--port", "70000"], {}, "port"),
        ([], {"PORT": "eighty"}, "port"),
        (["--port", "-1"], {}, "port"),
        (["--log-level", "LOUD"], {}, "log-level"),
        ([], {"MODEL_MAPPING": "claude-3"}, "model-mapping"),
        (["--target-url", "localhost:8000/v1"], {}, "target-url"),
        (["--target-url", "ftp://x/v1"], {}, "target-url"),
        (["--default-model", ""], {}, "default-model"),
        (["--no-such-flag"], {}, "unrecognized arguments"),
    ],
)
def test_bad_values_name_the_setting(argv, environ, setting):
    with pytest.raises(ConfigError, match=setting):
        load_config(argv, environ, None)


def test_embedding_config_accepts_a_mapping_string_and_validates():
    assert Config(model_mapping="x:y").resolve_model("x") == "y"
    with pytest.raises(ConfigError, match="shutdown-grace"):
        Config(shutdown_grace=0)
    with pytest.raises(ConfigError, match="max-body-bytes"):
        Config(max_body_bytes=-5)


def test_model_capabilities_from_flag_and_env():
    config = load_config(["--model-capabilities", '{"qwen3*": {"reasoning_param": "reasoning_effort", "reasoning_field": "reasoning"}}'],
                         {}, None)
    caps = config.capabilities("qwen3:32b")
    assert caps.reasoning_param == "reasoning_effort" and caps.reasoning_field == "reasoning"
    assert config.capabilities("gpt-5").token_limit_field == "max_completion_tokens"
    assert load_config([], {"MODEL_CAPABILITIES": '{"x": {"stop": false}}'}, None).capabilities("x").stop is False
    with pytest.raises(ConfigError, match="model-capabilities: x: unknown field colour"):
        load_config([], {"MODEL_CAPABILITIES": '{"x": {"colour": 1}}'}, None)


def test_limits_and_timeouts_from_flags_and_env(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not checked here")
    config = load_config(
        ["--header-timeout", "5", "--body-timeout", "6.5", "--keepalive-timeout", "7", "--upstream-connect-timeout", "8",
         "--max-body-bytes", "1000", "--max-connections", "20", "--ca-bundle", str(bundle)],
        {"UPSTREAM_READ_TIMEOUT": "600", "PING_INTERVAL": "2", "SHUTDOWN_GRACE": "3", "MAX_HEADER_BYTES": "9000",
         "AUTH_TOKEN": "proxy-secret"},
        None,
    )
    assert (config.header_timeout, config.body_timeout, config.keepalive_timeout) == (5.0, 6.5, 7.0)
    assert (config.upstream_connect_timeout, config.upstream_read_timeout, config.ping_interval) == (8.0, 600.0, 2.0)
    assert (config.shutdown_grace, config.max_body_bytes, config.max_header_bytes, config.max_connections) == (
        3.0, 1000, 9000, 20)
    assert config.ca_bundle == str(bundle) and config.auth_token == "proxy-secret"
    assert "proxy-secret" not in repr(config)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--header-timeout", "soon"], "header-timeout: must be a number of seconds, got 'soon'"),
        (["--ping-interval", "0"], "ping-interval: must be a positive number of seconds, got 0.0"),
        (["--upstream-read-timeout", "nan"], "upstream-read-timeout: must be a positive number of seconds"),
        (["--max-connections", "-3"], "max-connections: must be a positive integer, got -3"),
        (["--max-body-bytes", "1e6"], "max-body-bytes: must be an integer, got '1e6'"),
        (["--ca-bundle", "/nonexistent/ca.pem"], "ca-bundle: no such file"),
        (["--auth-token", " "], "auth-token: must not be empty"),
    ],
)
def test_bad_limits_and_timeouts_name_the_flag(argv, message):
    with pytest.raises(ConfigError, match=message):
        load_config(argv, {}, None)


EXAMPLE = Path(__file__).parents[3] / "anthroproxy" / "config.example.toml"


def test_the_example_config_file_loads_whole():
    config = load_config(["--config", str(EXAMPLE)], {}, None)
    assert (config.target_url, config.default_model, config.workers, config.log_format) == (
        "http://127.0.0.1:8000/v1", "Qwen/Qwen3-32B", 2, "json")
    assert config.count_tokens == "upstream" and config.upstream_read_timeout == 1800.0
    assert config.resolve_model("claude-opus-4-5") == "Qwen/Qwen3-32B"
    assert config.resolve_model("claude-3-7-sonnet") == "Qwen/Qwen3-8B"  # prefix before glob
    assert config.resolve_model("claude-sonnet-4-5") == "Qwen/Qwen3-32B"  # glob
    assert config.model_mapping.listed()[0] == ("claude-opus-4-5", "Qwen/Qwen3-32B", "Qwen3 32B (as Opus)")
    assert config.capabilities("Qwen/Qwen3-32B").max_output_tokens == 16384
    assert config.capabilities("Qwen/Qwen3-32B").reasoning_param == "reasoning_effort"
    small = config.capabilities("Qwen/Qwen3-8B")  # both entries match; the specific one, first, wins its fields
    assert (small.vision, small.max_output_tokens, small.reasoning_field) == (False, 8192, "reasoning")
    assert config.capabilities("gpt-5").token_limit_field == "max_completion_tokens"  # built-ins still apply
    assert config.capabilities("Qwen/Qwen3-32B").reasoning_off == "chat_template_kwargs"
    assert config.attribution_block == "drop"


def test_precedence_flags_env_dotenv_then_file(tmp_path):
    file = tmp_path / "c.toml"
    file.write_text('port = 1111\nhost = "::1"\ndefault_model = "from-file"\nlog_level = "ERROR"\n'
                    '[models]\n"claude-a" = "file-a"\n"claude-b" = "file-b"\n')
    dotenv = tmp_path / ".env"
    dotenv.write_text("LOG_LEVEL=INFO\n")
    config = load_config(["--port", "3333", "--config", str(file)], {"HOST": "0.0.0.0", "MODEL_MAPPING": "claude-b:env-b"},
                         str(dotenv))
    assert (config.port, config.host, config.log_level, config.default_model) == (3333, "0.0.0.0", "INFO", "from-file")
    assert config.resolve_model("claude-a") == "file-a" and config.resolve_model("claude-b") == "env-b"
    assert load_config([], {"CONFIG_FILE": str(file)}, None).port == 1111


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prot = 8080", "prot: unknown key"),
        ('port = "8080"', "port: expected an integer, got str '8080'"),
        ("header_timeout = true", "header_timeout: expected a number of seconds, got bool True"),
        ("[models]\n'claude-x' = 5", "models.claude-x: expected a target model name or a table"),
        ("[models]\n'claude-x' = { model = 'y' }", "models.claude-x: unknown key model"),
        ("[capabilities.'x*']\ncolour = 'red'", "capabilities: x\\*: unknown field colour"),
        ("[capabilities.'x*']\nmax_output_tokens = -1", "max_output_tokens: expected a positive integer"),
        ("port = ", "config: .*Invalid value"),
        ("workers = -2", "workers: must be 0"),
        ('model_mapping = "claude-x:y"', "model_mapping: in a config file, write it as a \\[models\\] table"),
    ],
)
def test_config_file_errors_name_the_key(tmp_path, text, message):
    file = tmp_path / "bad.toml"
    file.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(["--config", str(file)], {}, None)


def test_a_missing_config_file_is_a_clear_error():
    with pytest.raises(ConfigError, match="config: cannot read /nonexistent.toml: No such file"):
        load_config(["--config", "/nonexistent.toml"], {}, None)


@pytest.mark.parametrize("key", ["api_key", "auth_token"])
def test_a_mistyped_secret_is_not_repeated_in_the_error(tmp_path, key):
    file = tmp_path / "bad.toml"
    file.write_text(f"{key} = 98765432109876\n")
    with pytest.raises(ConfigError, match=f"{key}: expected a string, got int$") as caught:
        load_config(["--config", str(file)], {}, None)
    assert "98765" not in str(caught.value)


def test_a_name_mapped_twice_is_an_error():
    with pytest.raises(ConfigError, match="model-mapping: 'claude-a' is mapped twice"):
        load_config(["--model-mapping", "claude-a:x,claude-b:y,claude-a:z"], {}, None)


@pytest.mark.parametrize(("argv", "environ", "expected"), [
    ([], {}, "drop"), (["--attribution-block", "keep"], {}, "keep"), ([], {"ATTRIBUTION_BLOCK": "keep"}, "keep")])
def test_the_attribution_block_setting(argv, environ, expected):
    assert load_config(argv, environ, None).attribution_block == expected


def test_a_bad_attribution_block_value_names_the_setting():
    with pytest.raises(ConfigError, match="attribution-block: must be one of drop, keep, got 'maybe'"):
        load_config(["--attribution-block", "maybe"], {}, None)


# ---- several upstreams ------------------------------------------------------------------------

UPSTREAMS = """
target_url = "https://api.deepseek.com/v1"
api_key = "${DS_KEY}"

[upstreams.local]
url = ["http://127.0.0.1:8081/v1", "http://127.0.0.1:8082/v1"]
read_timeout = 30
capabilities = { vision = false }

[upstreams.router]
url = "https://openrouter.ai/api/v1"
api_keys = ["${OR_KEY_1}", "${OR_KEY_2}"]
headers = { "X-Title" = "${TEAM}" }

[models]
"claude-haiku-*" = "qwen3:8b@local"
"claude-sonnet-*" = "deepseek-chat|deepseek/deepseek-chat@router"

[models."claude-opus-*"]
target = "deepseek-reasoner"
fallbacks = [{ upstream = "router", target = "anthropic/claude-opus-4" }]
display_name = "Opus (DeepSeek)"
images = { upstream = "router", target = "openai/gpt-5" }
long_context = { over = 64000, upstream = "router", target = "google/gemini-2.5-pro" }
"""


def load_upstreams(tmp_path, text: str = UPSTREAMS, environ: dict | None = None, dotenv: str | None = None):
    file = tmp_path / "proxy.toml"
    file.write_text(text)
    dotenv_path = None
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
        dotenv_path = str(tmp_path / ".env")
    return load_config(["--config", str(file)], environ if environ is not None else {
        "DS_KEY": "sk-ds", "OR_KEY_1": "sk-or-1", "OR_KEY_2": "sk-or-2", "TEAM": "us"}, dotenv_path)


def test_upstreams_load_with_their_variables_replicas_keys_and_headers(tmp_path):
    specs = load_upstreams(tmp_path).upstream_specs()
    assert list(specs) == ["default", "local", "router"]
    assert (specs["default"].urls, specs["default"].keys) == (("https://api.deepseek.com/v1",), ("sk-ds",))
    assert specs["local"].urls == ("http://127.0.0.1:8081/v1", "http://127.0.0.1:8082/v1")
    assert (specs["local"].keys, specs["local"].read_timeout, specs["local"].connect_timeout) == ((), 30.0, None)
    assert specs["router"].keys == ("sk-or-1", "sk-or-2") and specs["router"].headers == (("X-Title", "us"),)


def test_variables_come_from_the_dotenv_file_too(tmp_path):
    config = load_upstreams(tmp_path, environ={"DS_KEY": "sk-ds", "TEAM": "us"},
                            dotenv="OR_KEY_1=sk-dot-1\nOR_KEY_2=sk-dot-2\n")
    assert config.upstream_specs()["router"].keys == ("sk-dot-1", "sk-dot-2")


def test_model_entries_route_in_compact_and_table_form(tmp_path):
    config = load_upstreams(tmp_path)
    assert str(config.routes_for("claude-haiku-4-5").default) == "qwen3:8b@local"
    assert str(config.routes_for("claude-sonnet-4-6").default) == "deepseek-chat|deepseek/deepseek-chat@router"
    opus = config.routes_for("claude-opus-4-1")
    assert str(opus.default) == "deepseek-reasoner|anthropic/claude-opus-4@router"
    assert (str(opus.images), str(opus.long_context), opus.long_context_over) == (
        "openai/gpt-5@router", "google/gemini-2.5-pro@router", 64000)
    assert opus.thinking is None and opus.web_search is None
    assert config.resolve_model("claude-opus-4-1") == "deepseek-reasoner"
    assert str(config.routes_for("gpt-other").default) == "gpt-5"  # (the default model, default upstream)


def test_an_upstreams_capabilities_come_before_the_table(tmp_path):
    config = load_upstreams(tmp_path)
    assert config.capabilities("qwen3:8b", "local").vision is False
    assert config.capabilities("qwen3:8b").vision is True


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('"qwen3:8b@local"', '"qwen3:8b@lokal"'), "models: upstream 'lokal' is not defined \\(defined: default, "
                                                   "local, router\\)"),
        (('upstream = "router", target = "openai', 'upstream = "ruter", target = "openai'),
         "upstream 'ruter' is not defined"),
        (('url = ["http://127.0.0.1:8081/v1", "http://127.0.0.1:8082/v1"]', "url = []"),
         "upstreams.local.url: at least one URL is needed"),
        (('url = ["http://127.0.0.1:8081/v1", "http://127.0.0.1:8082/v1"]', 'url = ["localhost:8081"]'),
         "upstreams.local.url"),
        (('url = ["http://127.0.0.1:8081/v1", "http://127.0.0.1:8082/v1"]',
          'url = ["http://127.0.0.1:8081/v1", "http://127.0.0.1:8081/v1"]'), "a replica is listed twice"),
        (("read_timeout = 30", "read_timeout = '30'"), "upstreams.local.read_timeout: expected a number of seconds"),
        (("read_timeout = 30", "timeout = 30"), "upstreams.local: unknown key timeout"),
        (("capabilities = { vision = false }", "capabilities = { colour = 'red' }"),
         "upstreams.local.capabilities: .*colour"),
        (('headers = { "X-Title" = "${TEAM}" }', 'api_key = "k"'), "upstreams.router: api_key or api_keys, not both"),
        (("[upstreams.router]", "[upstreams.'my router']"), "a name is letters, digits"),
        (("over = 64000", "over = -1"), "long_context.over: expected a positive number of tokens"),
        (('fallbacks = [{ upstream = "router"', 'fallbacks = [{ model = "x", upstream = "router"'),
         "claude-opus-\\*.fallbacks.0: unknown key model"),
        (('display_name = "Opus (DeepSeek)"', 'colour = "red"'), "models.claude-opus-\\*: unknown key colour"),
        (("read_timeout = 30", "read_timeout = -1"), "upstreams.local.read_timeout: must be a positive number"),
        (("read_timeout = 30", "read_timeout = 0"), "upstreams.local.read_timeout: must be a positive number"),
        (("read_timeout = 30", "read_timeout = nan"), "upstreams.local.read_timeout: must be a positive number"),
        (("read_timeout = 30", "connect_timeout = inf"), "upstreams.local.connect_timeout: must be a positive number"),
        (('api_keys = ["${OR_KEY_1}", "${OR_KEY_2}"]', "api_keys = []"), "upstreams.router.api_keys"),
        (('api_keys = ["${OR_KEY_1}", "${OR_KEY_2}"]', 'api_keys = ["${OR_KEY_1}", ""]'), "upstreams.router.api_keys"),
        (('{ "X-Title" = "${TEAM}" }', '{ "X Title" = "us" }'), "upstreams.router.headers"),
        (('{ "X-Title" = "${TEAM}" }', '{ "X-Title" = "us\\r\\nX-Evil: 1" }'), "upstreams.router.headers"),
        (("[upstreams.local]", '[upstreams.default]\nurl = "http://elsewhere/v1"\n[upstreams.local]'),
         "upstreams.default.url: .*target_url"),
        (("[upstreams.local]", '[upstreams.default]\napi_key = "k2"\n[upstreams.local]'),
         "api_key and \\[upstreams.default\\] keys: one or the other"),
        (('"deepseek-chat|deepseek/deepseek-chat@router"', '{ target = "a", fallbacks = ["b|c"] }'),
         "fallbacks.0"),
        (('url = "https://openrouter.ai/api/v1"', 'url = "https://openrouter.ai/api/v1?key=${OR_KEY_1}"'),
         "upstreams.router.url: a base URL takes no query string"),
        (('headers = { "X-Title" = "${TEAM}" }', 'headers = { "Authorization" = "Bearer ${TEAM}" }'),
         "upstreams.router: api_key or a Authorization header, not both"),
    ],
)
def test_upstream_config_errors_name_the_key(tmp_path, edit, message):
    old, new = edit
    assert old in UPSTREAMS
    with pytest.raises(ConfigError, match=message):
        load_upstreams(tmp_path, UPSTREAMS.replace(old, new))


def test_an_unset_variable_is_an_error_naming_it_not_an_empty_key(tmp_path):
    with pytest.raises(ConfigError, match="upstreams.router.api_keys: \\$\\{OR_KEY_2\\} is not set"):
        load_upstreams(tmp_path, environ={"DS_KEY": "sk-ds", "OR_KEY_1": "sk-or-1", "TEAM": "us"})


def test_a_variable_set_to_nothing_is_an_error_too(tmp_path):
    with pytest.raises(ConfigError, match="upstreams.router.api_keys: \\$\\{OR_KEY_2\\} is empty"):
        load_upstreams(tmp_path, environ={"DS_KEY": "sk-ds", "OR_KEY_1": "sk-or-1", "OR_KEY_2": "", "TEAM": "us"})


def test_a_mistyped_upstream_key_is_not_repeated_in_the_error(tmp_path):
    text = UPSTREAMS.replace('api_keys = ["${OR_KEY_1}", "${OR_KEY_2}"]', "api_keys = [98765432109876]")
    with pytest.raises(ConfigError, match="api_keys") as caught:
        load_upstreams(tmp_path, text)
    assert "98765" not in str(caught.value)


def test_the_default_upstream_can_be_extended_by_its_table(tmp_path):
    text = 'target_url = "https://api.openai.com/v1"\n[upstreams.default]\nheaders = { "OpenAI-Project" = "p1" }\n'
    spec = load_upstreams(tmp_path, text).upstream_specs()["default"]
    assert spec.urls == ("https://api.openai.com/v1",) and spec.headers == (("OpenAI-Project", "p1"),)


def test_failover_cooldown_from_flag_and_environment():
    assert load_config([], {}, None).failover_cooldown == 30.0
    assert load_config(["--failover-cooldown", "5"], {}, None).failover_cooldown == 5.0
    assert load_config([], {"FAILOVER_COOLDOWN": "2.5"}, None).failover_cooldown == 2.5
    with pytest.raises(ConfigError, match="failover-cooldown: must be a positive number"):
        load_config(["--failover-cooldown", "0"], {}, None)


def test_flags_win_over_the_default_upstreams_table(tmp_path):
    file = tmp_path / "proxy.toml"
    file.write_text('target_url = "https://file.example/v1"\n[upstreams.default]\napi_key = "sk-from-table"\n')
    from_file = load_config(["--config", str(file)], {}, None).upstream_specs()["default"]
    assert (from_file.urls, from_file.keys) == (("https://file.example/v1",), ("sk-from-table",))
    flagged = load_config(["--config", str(file), "--target-url", "https://flag.example/v1", "--api-key", "sk-flag"],
                          {}, None).upstream_specs()["default"]
    assert (flagged.urls, flagged.keys) == (("https://flag.example/v1",), ("sk-flag",))


@pytest.mark.parametrize("target", ["claude-3-5-sonnet-v2@20241022", "@cf/meta/llama-3.1-8b-instruct", "m@nowhere"])
def test_with_no_upstreams_configured_an_at_sign_is_part_of_the_models_name(target):
    """As before upstreams had names: Vertex's dated names and Cloudflare's."""
    config = load_config(["--model-mapping", f"claude-3:{target}"], {}, None)
    assert config.resolve_model("claude-3-opus") == target
    assert (config.routes_for("claude-3-opus").default.primary.target, config.routes_for("claude-3-opus").default
            .primary.upstream) == (target, "default")


def test_with_upstreams_configured_an_unknown_one_after_an_at_sign_is_an_error(tmp_path):
    file = tmp_path / "proxy.toml"
    file.write_text('[upstreams.local]\nurl = "http://127.0.0.1:11434/v1"\n[models]\n"claude-3" = "m@nowhere"\n')
    with pytest.raises(ConfigError, match="upstream 'nowhere' is not defined.*written as \\{ target = "):
        load_config(["--config", str(file)], {}, None)
    file.write_text('[upstreams.local]\nurl = "http://127.0.0.1:11434/v1"\n[models]\n'
                    '"claude-3" = { target = "claude-3-5-sonnet-v2@20241022" }\n')
    assert load_config(["--config", str(file)], {}, None).resolve_model("claude-3") == "claude-3-5-sonnet-v2@20241022"


@pytest.mark.parametrize(("headers", "own", "secrets"), [
    ({"X-Title": "my-team"}, False, ()),
    ({"api-key": "azure-secret-1"}, True, ("azure-secret-1",)),
    ({"Authorization": "Bearer sk-in-a-header"}, True, ("Bearer sk-in-a-header", "sk-in-a-header")),
    ({"x-api-key": "short"}, True, ("short",)),  # a credential header's value, however short
    ({"X-Custom-Token": "tok-1234567"}, False, ("tok-1234567",)),  # long enough to be one: redacted
])
def test_headers_that_carry_a_credential(tmp_path, headers, own, secrets):
    table = ", ".join(f'"{name}" = "{value}"' for name, value in headers.items())
    file = tmp_path / "proxy.toml"
    file.write_text(f'[upstreams.router]\nurl = "https://u:pw-in-url@openrouter.ai/api/v1"\nheaders = {{ {table} }}\n')
    spec = load_config(["--config", str(file)], {}, None).upstream_specs()["router"]
    assert (spec.own_credential, spec.secret_values) == (own, (*secrets, "pw-in-url"))


# ---- protocols: upstreams that speak Anthropic's API or OpenAI's Responses API ---------------------------

PROTOCOLS = """
[upstreams.anthropic]
url = "https://api.anthropic.com"
protocol = "anthropic"
api_key = "${ANTHROPIC_API_KEY}"

[upstreams.openai]
url = "https://api.openai.com/v1"
api_key = "${OPENAI_API_KEY}"
auth = "bearer"
attribution_block = "keep"

[upstreams.deepseek]
url = "https://api.deepseek.com/v1"

[models]
"claude-opus-*" = { upstream = "anthropic", fallbacks = [ { upstream = "openai", target = "gpt-5-codex", protocol = "responses" } ] }
"claude-*" = { upstream = "anthropic", target = "claude-sonnet-4-5", fallbacks = [ "deepseek-chat@deepseek" ] }
"""


def test_protocols_auth_and_targets_as_asked(tmp_path):
    config = load_upstreams(tmp_path, PROTOCOLS, {"ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": "o"})
    specs = config.upstream_specs()
    assert (specs["anthropic"].protocol, specs["openai"].protocol, specs["default"].protocol) == (
        "anthropic", "chat", "chat")
    assert specs["anthropic"].sends_key_as("anthropic") == "x-api-key"
    assert specs["openai"].sends_key_as("anthropic") == "bearer"  # (its own auth, whatever the protocol)
    assert specs["deepseek"].sends_key_as("chat") == "bearer" and specs["openai"].attribution_block == "keep"
    opus = config.routes_for("claude-opus-4-6").default
    assert [(c.target, c.upstream, c.protocol) for c in opus.choices] == [
        ("claude-opus-4-6", "anthropic", None), ("gpt-5-codex", "openai", "responses")]  # (the name as asked)
    assert str(opus) == "claude-opus-4-6@anthropic|gpt-5-codex@openai (responses)"
    assert config.resolve_model("claude-opus-4-6") == "claude-opus-4-6"
    assert str(config.routes_for("claude-haiku-4-5").default) == "claude-sonnet-4-5@anthropic|deepseek-chat@deepseek"


@pytest.mark.parametrize(("edit", "message"), [
    (('"claude-*" = { upstream = "anthropic", target = "claude-sonnet-4-5",', '"claude-*" = { upstream = "deepseek",'),
     "models.claude-\\*: a target is needed for upstream 'deepseek', which speaks chat"),
    (('protocol = "responses"', 'protocol = "grpc"'), "fallbacks.0.protocol: expected one of chat, anthropic, responses"),
    (('protocol = "anthropic"', 'protocol = "Anthropic"'), "upstreams.anthropic.protocol: expected one of"),
    (('auth = "bearer"', 'auth = "basic"'), "upstreams.openai.auth: expected one of x-api-key, bearer"),
    (('attribution_block = "keep"', 'attribution_block = "yes"'), "upstreams.openai.attribution_block: expected"),
    (('"claude-opus-*" = { upstream = "anthropic",', '"claude-opus-*" = { upstream = "anthropic", protocol = "chat",'),
     "a target is needed for upstream 'anthropic', which speaks chat"),
])
def test_protocol_settings_that_cannot_work_name_themselves(tmp_path, edit, message):
    with pytest.raises(ConfigError, match=message):
        load_upstreams(tmp_path, PROTOCOLS.replace(*edit), {"ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": "o"})


def test_the_state_url_from_flag_environment_and_file(tmp_path):
    assert load_config(["--state-url", "redis://127.0.0.1:6379/0"], {}, None).state_url == "redis://127.0.0.1:6379/0"
    assert load_config([], {"STATE_URL": "rediss://cache.internal"}, None).state_url == "rediss://cache.internal"
    file = tmp_path / "team.toml"
    file.write_text('state_url = "redis://:${REDIS_PASSWORD}@cache:6380/2"\n')
    config = load_config(["--config", str(file)], {"REDIS_PASSWORD": "pw-secret"}, None)
    assert config.state_url == "redis://:pw-secret@cache:6380/2"
    assert "pw-secret" not in repr(config)


def test_a_rediss_state_url_takes_the_authorities_to_trust(tmp_path):
    authorities = tmp_path / "ca.pem"
    authorities.write_text("")
    url = f"rediss://cache:6380/0?ssl_ca_certs={authorities}&ssl_cert_reqs=required"
    assert load_config(["--state-url", url], {}, None).state_url == url


@pytest.mark.parametrize(
    "url",
    ["http://:pw-secret@cache:6379", "redis://:pw-secret@", "redis://:pw-secret@cache:port/0",
     "redis://:pw-secret@cache:6379/zero", "redis://:pw-secret@cache:6379/0?timeout=1", "cache:6379",
     "redis://:pw-secret@cache:6379/0?ssl_cert_reqs=none", "rediss://:pw-secret@cache/0?ssl_cert_reqs=maybe",
     "rediss://:pw-secret@cache/0?ssl_ca_certs=/no/such/ca.pem", "rediss://:pw-secret@cache/0?ssl_ca_certs",
     "rediss://:pw-secret@cache/0?ssl_ca_certs="],
)
def test_a_malformed_state_url_names_the_setting_and_not_the_password(url):
    with pytest.raises(ConfigError, match="^state-url: ") as caught:
        load_config(["--state-url", url], {}, None)
    assert "pw-secret" not in str(caught.value) and "\n" not in str(caught.value)
