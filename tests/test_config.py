"""Settings: rel.toml, environment overrides, CLI overrides, and `rel-tui config` showing no secrets."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from rel_core.config import (
    ConfigError,
    Settings,
    apply_cli_overrides,
    apply_overrides,
    load_settings,
    render_settings,
)
from rel_tui.cli import main

SECRET = "sk-test-SECRET-never-printed"


def write_config(tmp_path, text: str):
    (tmp_path / "rel.toml").write_text(textwrap.dedent(text))
    return tmp_path / "rel.db"


def test_defaults_without_a_file(tmp_path):
    assert load_settings(tmp_path / "rel.db", environ={}) == Settings()


def test_file_then_environment(tmp_path):
    db = write_config(
        tmp_path,
        """
        generator = "openai:gpt-4.1"
        critic = "openai:gpt-4.1-mini"
        [openai]
        max_retries = 3
        [models."openai:qwen2.5-7b"]
        base_url = "http://localhost:8000/v1"
        """,
    )
    environ = {
        "REL_CRITIC": "anthropic:claude-haiku-4-5",
        "REL_OPENAI__MAX_RETRIES": "9",
        "REL_LOOP__CONCURRENCY": "4",
        "REL_DB": "ignored.db",  # a CLI variable, not a setting
    }
    settings = load_settings(db, environ=environ)
    assert settings.generator == "openai:gpt-4.1"
    assert settings.critic == "anthropic:claude-haiku-4-5"
    assert settings.openai.max_retries == 9
    assert settings.loop.concurrency == 4
    assert settings.models["openai:qwen2.5-7b"].base_url == "http://localhost:8000/v1"


def test_a_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="REL_OPENAI__MAX_RETRIES") as caught:
        load_settings(tmp_path / "rel.db", environ={"REL_OPENAI__MAX_RETRIES": "many"})
    assert "\n" not in str(caught.value)


def test_api_keys_in_the_file_are_refused(tmp_path):
    db = write_config(tmp_path, f'[openai]\napi_key = "{SECRET}"\n')
    with pytest.raises(ConfigError, match="API keys do not belong in the config file") as caught:
        load_settings(db, environ={})
    assert SECRET not in str(caught.value)


def test_cli_overrides_win_and_none_means_not_given():
    settings = apply_cli_overrides(Settings(), generator="anthropic:claude-opus-4-5", concurrency=2, budget=None)
    assert settings.generator == "anthropic:claude-opus-4-5"
    assert settings.loop.concurrency == 2
    assert settings.loop.budget_usd is None
    with pytest.raises(ConfigError, match="concurrency"):
        apply_overrides(Settings(), {"loop.concurrency": "lots"})


def test_render_shows_keys_as_set_or_unset_only():
    environ = {"OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": "http://user:pw@localhost:8000/v1"}
    text = render_settings(Settings(), environ=environ)
    assert 'OPENAI_API_KEY = "set"' in text
    assert 'ANTHROPIC_API_KEY = "unset"' in text
    assert 'OPENAI_BASE_URL = "http://localhost:8000/v1"' in text
    assert SECRET not in text and "pw" not in text
    assert 'generator = "openai:gpt-4o-mini"' in text and "[loop]" in text


def test_config_command_via_click(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("REL_GENERATOR", "anthropic:claude-haiku-4-5")
    db = write_config(tmp_path, "[anthropic]\ntimeout = 30.0\n")
    result = CliRunner().invoke(main, ["--db", str(db), "config"])
    assert result.exit_code == 0, result.output
    assert 'OPENAI_API_KEY = "set"' in result.output and 'ANTHROPIC_API_KEY = "unset"' in result.output
    assert 'generator = "anthropic:claude-haiku-4-5"' in result.output
    assert "timeout = 30.0" in result.output
    assert SECRET not in result.output


def test_config_command_as_a_real_process(tmp_path):
    db = write_config(tmp_path, 'critic = "openai:gpt-4.1-mini"\n')
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "ANTHROPIC_API_KEY": SECRET}
    result = subprocess.run(
        [sys.executable, "-m", "rel_tui", "--db", str(db), "config"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert 'ANTHROPIC_API_KEY = "set"' in result.stdout and 'OPENAI_API_KEY = "unset"' in result.stdout
    assert 'critic = "openai:gpt-4.1-mini"' in result.stdout
    assert SECRET not in result.stdout + result.stderr


def test_config_command_reports_a_bad_file_in_one_line(tmp_path):
    db = write_config(tmp_path, "[openai\n")
    result = CliRunner().invoke(main, ["--db", str(db), "config"])
    assert result.exit_code != 0
    assert "not valid TOML" in result.output


@pytest.mark.parametrize(
    "toml, where",
    [
        ("[loop]\nconcurrency = 0\n", "loop.concurrency"),
        ("[openai]\nconcurrency = 0\n", "openai.concurrency"),
        ("[loop]\nlease_seconds = -5\n", "loop.lease_seconds"),
        ("[loop]\nconcurency = 4\n", "loop.concurency"),
        ("generater = 'openai:x'\n", "generater"),
    ],
)
def test_impossible_or_misspelt_settings_are_refused(tmp_path, toml, where):
    (tmp_path / "rel.toml").write_text(toml)
    with pytest.raises(ConfigError, match=f"rel.toml: {where}: "):
        load_settings(tmp_path / "rel.db", environ={})


def test_config_that_is_not_utf8_is_one_clear_error(tmp_path):
    (tmp_path / "rel.toml").write_bytes(b"generator = '\xff\xfe'\n")
    with pytest.raises(ConfigError, match=r"rel\.toml: not UTF-8 text"):
        load_settings(tmp_path / "rel.db", environ={})


def test_zero_concurrency_from_the_environment_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"loop\.concurrency"):
        load_settings(tmp_path / "rel.db", environ={"REL_LOOP__CONCURRENCY": "0"})


def test_urls_are_shown_without_credentials_or_query_values():
    from rel_core.config import redact_url

    assert redact_url("http://user:pw@127.0.0.1:8000/v1?api_key=sk-secret&x=1") == "http://127.0.0.1:8000/v1?api_key=***&x=***"
    assert redact_url("https://api.openai.com/v1") == "https://api.openai.com/v1"
