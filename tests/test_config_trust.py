"""Config files cannot send a secret where the user did not choose: file ownership and modes, the
trusted user config against a project rel.toml, template files inside their directory, and no
credentials in base URLs. Run through the real CLI where the exit code and the one line matter."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from loop_helpers import solution

from rel_core.config import (
    ConfigError,
    TrustSettings,
    key_may_go_to,
    load_settings,
    user_config_path,
)
from rel_core.models import Problem
from rel_core.prompts import TemplateError, Templates
from rel_core.store import Store

SECRET = "sk-secret-that-must-stay-home"
running_as_root = os.geteuid() == 0


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    path.chmod(0o644)
    return path


@pytest.fixture
def user_config(tmp_path, monkeypatch):
    """The user config file, under a temporary XDG_CONFIG_HOME (never the real home)."""
    config_home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    path = config_home / "rel-tui" / "config.toml"
    assert user_config_path() == path
    return path


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "shared project"
    folder.mkdir()
    return folder


def env_for(tmp_path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def rel_tui(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rel_tui", *args], check=False, capture_output=True, text=True, env=env, timeout=120
    )


def assert_one_line_exit_2(result: subprocess.CompletedProcess, *parts: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    for part in parts:
        assert part in lines[0], lines[0]


# -- ownership and modes (as ssh checks its config) ------------------------------------------------------


@pytest.mark.parametrize("mode", [0o664, 0o646, 0o666])
def test_a_config_file_others_can_write_is_refused_naming_the_fix(tmp_path, project, mode):
    config = write(project / "rel.toml", 'generator = "openai:gpt-4.1"\n')
    config.chmod(mode)
    result = rel_tui("--db", str(project / "rel.db"), "config", env=env_for(tmp_path))
    assert_one_line_exit_2(result, str(config), f"{mode:04o}", f"chmod go-w {config}")


def test_a_user_config_others_can_write_is_refused_too(tmp_path, user_config):
    write(user_config, 'generator = "openai:gpt-4.1"\n').chmod(0o666)
    result = rel_tui("--db", str(tmp_path / "rel.db"), "config", env=env_for(tmp_path))
    assert_one_line_exit_2(result, str(user_config), "chmod go-w")


@pytest.mark.skipif(not running_as_root, reason="giving a file to another user needs root")
def test_a_config_file_owned_by_someone_else_is_refused_naming_the_fix(tmp_path, project):
    config = write(project / "rel.toml", 'generator = "openai:gpt-4.1"\n')
    os.chown(config, 65534, 65534)
    result = rel_tui("--db", str(project / "rel.db"), "config", env=env_for(tmp_path))
    assert_one_line_exit_2(result, str(config), "not you", "chown")


def test_a_symlink_is_judged_by_the_file_it_points_to(tmp_path, project):
    target = write(tmp_path / "elsewhere.toml", 'generator = "openai:gpt-4.1"\n')
    target.chmod(0o666)
    (project / "rel.toml").symlink_to(target)
    with pytest.raises(ConfigError, match="writable by others"):
        load_settings(project / "rel.db", environ={})


def test_a_fifo_in_place_of_rel_toml_is_refused_not_waited_on(tmp_path, project):
    os.mkfifo(project / "rel.toml")
    result = rel_tui("--db", str(project / "rel.db"), "config", env=env_for(tmp_path))
    assert_one_line_exit_2(result, str(project / "rel.toml"), "not a regular file")


def test_a_private_config_file_is_read(tmp_path, project):
    write(project / "rel.toml", 'generator = "openai:gpt-4.1"\n').chmod(0o600)
    result = rel_tui("--db", str(project / "rel.db"), "config", env=env_for(tmp_path))
    assert result.returncode == 0, result.stderr
    assert 'generator = "openai:gpt-4.1"' in result.stdout


# -- the user config is trusted, a project file is not --------------------------------------------------


def test_the_user_config_is_read_and_a_project_file_layers_over_it(tmp_path, user_config, project):
    write(user_config, 'generator = "openai:from-user"\ncritic = "openai:critic-from-user"\n[loop]\nconcurrency = 3\n')
    write(project / "rel.toml", 'generator = "openai:from-project"\n[loop]\nmax_iterations = 5\n')
    settings = load_settings(project / "rel.db", environ={})
    assert (settings.generator, settings.critic) == ("openai:from-project", "openai:critic-from-user")
    assert (settings.loop.concurrency, settings.loop.max_iterations) == (3, 5)


def test_a_project_file_cannot_pick_the_variable_a_key_is_read_from(tmp_path, user_config, project):
    write(
        project / "rel.toml",
        """
        [models."openai:x"]
        base_url = "http://127.0.0.1:8000/v1"
        api_key_env = "ANY_VARIABLE"
    """,
    )
    with pytest.raises(ConfigError, match=r'api_key_env = "ANY_VARIABLE".*\[trust\] key_variables'):
        load_settings(project / "rel.db", environ={})
    write(user_config, '[trust]\nkey_variables = ["ANY_VARIABLE"]\n')
    assert load_settings(project / "rel.db", environ={}).models["openai:x"].api_key_env == "ANY_VARIABLE"


def test_a_variable_the_user_config_uses_itself_counts_as_named(tmp_path, user_config, project):
    write(user_config, '[models."openai:mine"]\nbase_url = "http://127.0.0.1:9000/v1"\napi_key_env = "VLLM_KEY"\n')
    write(project / "rel.toml", '[models."openai:theirs"]\nbase_url = "http://127.0.0.1:8000/v1"\napi_key_env = "VLLM_KEY"\n')
    assert load_settings(project / "rel.db", environ={}).models["openai:theirs"].api_key_env == "VLLM_KEY"


@pytest.mark.parametrize("section", ["openai", "anthropic"])
def test_a_project_file_cannot_send_the_default_key_to_a_foreign_host(tmp_path, user_config, project, section):
    write(project / "rel.toml", f'[{section}]\nbase_url = "https://collector.example.net/v1"\n')
    with pytest.raises(ConfigError, match=rf"\[{section}\] base_url sends {section.upper()}_API_KEY to 'collector.example.net'"):
        load_settings(project / "rel.db", environ={})
    write(user_config, '[trust]\nhosts = ["collector.example.net"]\n')
    assert load_settings(project / "rel.db", environ={}).model_dump()[section]["base_url"].startswith("https://collector")


def test_a_project_file_cannot_send_a_named_key_to_a_foreign_host(tmp_path, user_config, project):
    write(user_config, '[trust]\nkey_variables = ["VLLM_KEY"]\n')
    write(project / "rel.toml", '[models."openai:x"]\nbase_url = "https://evil.example/v1"\napi_key_env = "VLLM_KEY"\n')
    with pytest.raises(ConfigError, match=r"sends VLLM_KEY to 'evil.example'.*\[trust\] hosts"):
        load_settings(project / "rel.db", environ={})


def test_a_project_file_may_point_the_users_key_route_nowhere_else(tmp_path, user_config, project):
    """The user config names the variable for a model; a project may not move that model's server."""
    write(user_config, '[models."openai:x"]\nbase_url = "http://127.0.0.1:8000/v1"\napi_key_env = "VLLM_KEY"\n')
    write(project / "rel.toml", '[models."openai:x"]\nbase_url = "https://evil.example/v1"\n')
    with pytest.raises(ConfigError, match=r"sends VLLM_KEY to 'evil\.example'"):
        load_settings(project / "rel.db", environ={})


def test_what_a_project_file_may_do_without_asking(tmp_path, user_config, project):
    write(
        project / "rel.toml",
        """
        [openai]
        base_url = "https://api.openai.com/v1"
        [anthropic]
        base_url = "http://localhost:4000"
        [models."openai:local"]
        base_url = "https://gpu-box.example.org/v1"
        [models."openai:vllm"]
        base_url = "http://[::1]:8000/v1"
        api_key_env = "OPENAI_API_KEY"
    """,
    )
    settings = load_settings(project / "rel.db", environ={})
    assert settings.models["openai:local"].api_key_env is None  # that server is sent no key at all
    assert settings.models["openai:vllm"].base_url == "http://[::1]:8000/v1"


def test_the_same_routes_in_the_user_config_are_the_users_choice(tmp_path, user_config):
    write(
        user_config,
        '[openai]\nbase_url = "https://proxy.corp.example/v1"\n[models."openai:x"]\nbase_url = "https://h.example/v1"\napi_key_env = "ANY"\n',
    )
    settings = load_settings(tmp_path / "rel.db", environ={})
    assert settings.openai.base_url == "https://proxy.corp.example/v1" and settings.models["openai:x"].api_key_env == "ANY"


def test_a_project_file_cannot_grant_itself_trust(tmp_path, user_config, project):
    write(project / "rel.toml", '[trust]\nhosts = ["evil.example"]\n')
    result = rel_tui("--db", str(project / "rel.db"), "config", env=env_for(tmp_path))
    assert_one_line_exit_2(result, str(project / "rel.toml"), "[trust]", str(user_config))


def test_an_explicit_config_file_is_a_project_file(tmp_path, user_config):
    explicit = write(tmp_path / "downloaded.toml", '[openai]\nbase_url = "https://evil.example/v1"\n')
    with pytest.raises(ConfigError, match=r"downloaded\.toml"):
        load_settings(tmp_path / "rel.db", explicit=explicit, environ={})


def test_the_user_config_passed_explicitly_stays_trusted(tmp_path, user_config):
    write(user_config, '[openai]\nbase_url = "https://proxy.corp.example/v1"\n')
    assert load_settings(tmp_path / "rel.db", explicit=user_config, environ={}).openai.base_url.startswith("https://proxy")


@pytest.mark.parametrize(
    ("provider", "url", "trusted"),
    [
        ("openai", "https://api.openai.com/v1", True),
        ("openai", "https://evilopenai.com/v1", False),
        ("openai", "https://api.openai.com.evil.example/v1", False),
        ("openai", "https://api.anthropic.com", False),
        ("anthropic", "https://api.anthropic.com", True),
        ("openai", "http://127.0.0.2:8000/v1", True),
        ("openai", "http://LOCALHOST:8000/v1", True),
        ("openai", "http://[::1]:8000/v1", True),
        ("openai", "http://10.0.0.5:8000/v1", False),
        ("openai", "https://Proxy.Corp.Example/v1", True),
        ("openai", "not a url", False),
    ],
)
def test_where_a_key_may_go(provider, url, trusted):
    assert key_may_go_to(provider, url, TrustSettings(hosts=["proxy.corp.example"])) is trusted


# -- the whole path: rel-tui --auto against the loopback server --------------------------------------------


def auto_run(tmp_path, project, llm_server):
    db = project / "rel.db"
    with Store(db) as store:
        store.add_problem(Problem(text="What is 6 x 7?", reference_answer="42", reference_solution="6 x 7 = 42"))
    llm_server.respond_with(lambda request: solution("42"))
    env = env_for(tmp_path, ANY_VARIABLE=SECRET, OPENAI_API_KEY="sk-test-loopback")
    return rel_tui("--db", str(db), "--auto", "--limit", "1", env=env)


def test_a_project_file_naming_any_variable_sends_nothing(tmp_path, user_config, project, llm_server):
    write(
        project / "rel.toml",
        f"""
        generator = "openai:x"
        critic = "openai:x"
        [models."openai:x"]
        base_url = "{llm_server.openai_base_url}"
        api_key_env = "ANY_VARIABLE"
    """,
    )
    result = auto_run(tmp_path, project, llm_server)
    assert_one_line_exit_2(result, "ANY_VARIABLE", str(user_config))
    assert llm_server.requests == []


def test_the_variable_the_user_named_is_sent_to_the_server(tmp_path, user_config, project, llm_server):
    write(user_config, '[trust]\nkey_variables = ["ANY_VARIABLE"]\n')
    write(
        project / "rel.toml",
        f"""
        generator = "openai:x"
        critic = "openai:x"
        [models."openai:x"]
        base_url = "{llm_server.openai_base_url}"
        api_key_env = "ANY_VARIABLE"
    """,
    )
    result = auto_run(tmp_path, project, llm_server)
    assert result.returncode == 0, result.stderr
    assert llm_server.requests and {r.headers.get("authorization") for r in llm_server.requests} == {f"Bearer {SECRET}"}


# -- credentials in URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["[openai]", '[models."openai:x"]'])
def test_a_base_url_with_credentials_is_a_config_error(tmp_path, project, where):
    write(project / "rel.toml", f'{where}\nbase_url = "https://user:{SECRET}@127.0.0.1/v1"\n')
    result = rel_tui("--db", str(project / "rel.db"), "config", env=env_for(tmp_path))
    assert_one_line_exit_2(result, str(project / "rel.toml"), "base_url", "credentials")
    assert SECRET not in result.stderr


@pytest.mark.parametrize("variable", ["OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "REL_OPENAI__BASE_URL"])
def test_a_base_url_with_credentials_in_the_environment_is_a_config_error(tmp_path, variable):
    env = env_for(tmp_path, **{variable: f"https://user:{SECRET}@127.0.0.1/v1"})
    result = rel_tui("--db", str(tmp_path / "rel.db"), "config", env=env)
    assert_one_line_exit_2(result, "credentials")
    assert SECRET not in result.stderr


# -- templates stay inside their directory -------------------------------------------------------------


def test_a_template_that_links_out_of_the_template_dir_is_refused(tmp_path, project):
    secret_file = tmp_path / "home" / "notes.md"
    write(secret_file, "private {problem}\n")
    prompts = project / "prompts"
    prompts.mkdir()
    (prompts / "generate.md").symlink_to(secret_file)
    with pytest.raises(TemplateError, match="outside template_dir"):
        Templates(prompts)
    write(project / "rel.toml", f'generator = "openai:x"\ncritic = "openai:x"\n[loop]\ntemplate_dir = "{prompts}"\n')
    result = rel_tui("--db", str(project / "rel.db"), "--auto", env=env_for(tmp_path, OPENAI_API_KEY="sk-test"))
    assert_one_line_exit_2(result, str(prompts / "generate.md"), "outside template_dir")


def test_a_template_dir_that_is_itself_a_link_and_links_inside_it_are_fine(tmp_path, project):
    real = tmp_path / "real prompts"
    write(real / "shared.md", "Solve {problem} carefully.\n")
    (real / "generate.md").symlink_to(real / "shared.md")
    (project / "prompts").symlink_to(real)
    assert Templates(project / "prompts")["generate"].text == "Solve {problem} carefully.\n"
