"""Settings: the user config, then a project file (`rel.toml` beside the database, or `REL_CONFIG`),
then env, then CLI flags.

Trust (as git treats repository config, ssh its files and direnv its `.envrc`): every config file
must be owned by the user (or root) and writable by no one else. The user config
(`~/.config/rel-tui/config.toml`, the platformdirs user config dir) is the user's own; a project file
may have come with a shared folder or a clone, so it cannot choose where a key is sent: a key goes
from it only to the provider's own API, a loopback address or a host the user config lists in
`[trust] hosts`, and only from the provider's default variable or one the user config names.

Environment overrides: `REL_GENERATOR`, `REL_CRITIC`, and `REL_<SECTION>__<FIELD>` for any field
of a section, e.g. `REL_OPENAI__MAX_RETRIES=10`, `REL_LOOP__CONCURRENCY=4`.

API keys are never part of these settings: they are read from the environment at call time
(OPENAI_API_KEY, ANTHROPIC_API_KEY, or the variable a model's `api_key_env` names).
"""

from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class StrictModel(BaseModel):
    # A misspelt setting (`concurency = 4`) is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


def refuse_credentials_in_url(url: str | None) -> str | None:
    """A password in a URL ends up in logs and error text: keys belong in the environment."""
    if url:
        try:
            has_credentials = "@" in urlsplit(url).netloc
        except ValueError:
            has_credentials = False  # unparsable URLs are reported where the client is made
        if has_credentials:
            raise ValueError(
                "must not contain credentials (user:password@); put the key in an environment variable (api_key_env)"
            )
    return url


class ProviderSettings(StrictModel):
    """Connection settings for one provider (openai, anthropic)."""

    base_url: str | None = None
    """Overrides the SDK's default (and its *_BASE_URL environment variable)."""

    @field_validator("base_url")
    @classmethod
    def _no_credentials(cls, url: str | None) -> str | None:
        return refuse_credentials_in_url(url)

    max_retries: int = Field(6, ge=0)
    """Retries the SDK itself makes on 408/409/429/5xx and connection errors (it honours retry-after)."""
    timeout: float = Field(600.0, gt=0)
    """Seconds before one HTTP request is abandoned."""
    concurrency: int = Field(16, ge=1)
    """Requests in flight at once to this provider."""
    requests_per_minute: float | None = Field(None, gt=0)
    """Optional client-side rate limit."""


class ModelSettings(StrictModel):
    """Per-model overrides, keyed by model spec (e.g. `openai:qwen2.5-7b`)."""

    base_url: str | None = None
    """Send this model's requests to another OpenAI-compatible server (vLLM, Ollama, llama.cpp)."""
    input_per_million: float | None = Field(None, ge=0)
    """USD per million input tokens; overrides the bundled price table."""
    output_per_million: float | None = Field(None, ge=0)
    """USD per million output tokens."""
    api_key_env: str | None = None
    """With base_url: the environment variable holding that server's key. Unset, no real key is sent
    (the hosted provider's key never goes to another server)."""

    @field_validator("base_url")
    @classmethod
    def _no_credentials(cls, url: str | None) -> str | None:
        return refuse_credentials_in_url(url)


class LoopSettings(StrictModel):
    """How the Reasoning Enhancement Loop runs."""

    max_iterations: int = Field(3, ge=0)
    """Revisions with a critic hint before the final rewrite with the reference solution."""
    temperature: float = Field(1.0, ge=0)
    """Generator temperature for the first draft."""
    temperature_decay: float = Field(0.9, gt=0, le=1)
    """Multiplied into the temperature at each revision (REL used 0.9)."""
    max_tokens: int = Field(8192, ge=1)
    """Output token limit for generator calls."""
    critic_when_correct: bool = False
    """Ask the LLM critic for comments even when the answer check says the answer is right."""
    cleanup: bool = False
    """Run a clean-up pass over a correct final rewrite before review."""
    template_dir: Path | None = None
    """Directory of prompt templates that replace the bundled ones, file by file."""
    lease_seconds: float = Field(60.0, gt=0)
    """How long a claim lasts unless renewed (runners renew every third of it); a dead remote runner's claims come back after it."""
    concurrency: int = Field(8, ge=1)
    """Problems worked on at once by `--auto`."""
    budget_usd: float | None = Field(None, ge=0)
    """Stop starting new problems once this much has been spent in the run."""


class ReviewSettings(StrictModel):
    """The review TUI."""

    annotator: str | None = None
    """Name recorded with each decision; defaults to the login name."""
    keymap: dict[str, str] = Field(default_factory=dict)
    """Binding id to keys, e.g. {"accept" = "a,enter"}."""
    autosave_seconds: float = Field(3.0, gt=0)
    """How often an edit in progress is saved to the database."""
    guidelines: Path | None = None
    """Markdown file of annotation guidelines, shown on a key; relative to the config file that names it.
    The start of its SHA-256 is recorded on each decision as `guideline_version`."""
    reject_presets: list[str] = Field(
        default_factory=lambda: ["wrong answer", "wrong reasoning", "incomplete", "bad problem"], max_length=9
    )
    """Reject reasons offered on the number keys 1-9 of the reject dialog, in order (any other reason can be typed)."""


class TeamSettings(StrictModel):
    """A team of experts on one project: overlap items decided independently, and adjudication."""

    overlap: float = Field(0.0, ge=0, le=1)
    """Share of items that `overlap_k` experts each decide independently (0: none). Chosen by a hash
    of the problem text, so every process and every run picks the same items."""
    overlap_k: int = Field(2, ge=2)
    """How many different experts decide each overlap item before it leaves the queue."""
    overlap_sources: list[str] = Field(default_factory=list)
    """Only problems from these sources can be overlap items (empty: any source); `overlap` is the share among them."""
    adjudicators: list[str] = Field(default_factory=list)
    """Annotator names who may record the final decision on overlap items the experts disagreed on."""


class TrustSettings(StrictModel):
    """Read from the user config only: what a project rel.toml may do with keys."""

    key_variables: list[str] = Field(default_factory=list)
    """Environment variables, besides OPENAI_API_KEY and ANTHROPIC_API_KEY, a project file may name as api_key_env."""
    hosts: list[str] = Field(default_factory=list)
    """Hosts, besides the providers' own APIs and loopback, to which a project file may send a key."""


class Settings(StrictModel):
    """Everything configurable; each section is a table in rel.toml."""

    generator: str = "openai:gpt-4o-mini"
    """Model spec `provider:model` that writes worked solutions."""
    critic: str = "openai:gpt-4o-mini"
    """Model spec that marks them against the reference answer."""
    openai: ProviderSettings = Field(default_factory=ProviderSettings)
    anthropic: ProviderSettings = Field(default_factory=ProviderSettings)
    models: dict[str, ModelSettings] = Field(default_factory=dict)
    loop: LoopSettings = Field(default_factory=LoopSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    team: TeamSettings = Field(default_factory=TeamSettings)
    trust: TrustSettings = Field(default_factory=TrustSettings)


class ConfigError(Exception):
    """The config file is missing, unreadable or invalid; the message is one line."""


def config_path_for(db_path: Path, explicit: str | Path | None = None) -> Path:
    """`REL_CONFIG` (passed in as `explicit`) or `rel.toml` beside the database."""
    return Path(explicit) if explicit else Path(db_path).resolve().parent / "rel.toml"


def user_config_path() -> Path:
    """The user's own, trusted config: `$XDG_CONFIG_HOME/rel-tui/config.toml` (platformdirs)."""
    from platformdirs import user_config_path as config_dir

    return config_dir("rel-tui") / "config.toml"


ENV_PREFIX = "REL_"
ENV_NESTED = "__"
SECTIONS: dict[str, type[BaseModel]] = {
    "openai": ProviderSettings,
    "anthropic": ProviderSettings,
    "loop": LoopSettings,
    "review": ReviewSettings,
    "team": TeamSettings,
}
KEY_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
BASE_URL_VARIABLES = ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")
DEFAULT_KEY_VARIABLE = dict(zip(("openai", "anthropic"), KEY_VARIABLES, strict=True))
PROVIDER_DOMAINS = {"openai": "openai.com", "anthropic": "anthropic.com"}
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")

# `rel-tui --auto` flags and the setting each one overrides.
CLI_OVERRIDES = {
    "generator": "generator",
    "critic": "critic",
    "concurrency": "loop.concurrency",
    "max_iterations": "loop.max_iterations",
    "budget": "loop.budget_usd",
}


def load_settings(
    db_path: Path,
    explicit: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    user_config: Path | None = None,
) -> Settings:
    """The user config, then the project file (if any), then environment overrides.

    `environ` defaults to os.environ, `user_config` to `user_config_path()`."""
    environ = os.environ if environ is None else environ
    user_path = user_config_path() if user_config is None else Path(user_config)
    project_path = config_path_for(db_path, explicit)
    if not project_path.exists() and explicit:
        raise ConfigError(f"config file {project_path} does not exist")
    user_data = _resolve_guidelines(_read_config(user_path), user_path) if user_path.exists() else {}
    user = _validate(user_data, str(user_path))
    project_data: dict[str, Any] = {}
    if project_path.exists() and not _same_file(project_path, user_path):
        project_data = _resolve_guidelines(_read_config(project_path), project_path)
        if "trust" in project_data:
            raise ConfigError(f"{project_path}: [trust] is read from your user config only ({user_path}); remove it here")
        _validate(project_data, str(project_path))
    settings = _validate(_merged(user_data, project_data), str(project_path))
    check_project_trust(project_data, settings, user, project_path, user_path)
    _refuse_credentials_in_environment(environ)
    return apply_env_overrides(settings, environ)


def _resolve_guidelines(data: dict[str, Any], config_file: Path) -> dict[str, Any]:
    """`review.guidelines` read relative to the file that names it, not the working directory."""
    review = data.get("review")
    if isinstance(review, dict) and isinstance(review.get("guidelines"), str):
        review["guidelines"] = str(config_file.parent / Path(review["guidelines"]).expanduser())
    return data


def _same_file(a: Path, b: Path) -> bool:
    try:
        return b.exists() and a.samefile(b)
    except OSError:
        return False


def _merged(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merged key by key (as git layers its config files); `top` wins."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_config(path: Path) -> dict[str, Any]:
    data = _read_toml(path)
    _refuse_keys_in_file(data, path)
    return data


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        # O_NONBLOCK: a FIFO put where rel.toml should be is refused below instead of waited on.
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as file:
            refuse_unsafe_file(path, os.fstat(file.fileno()))  # the file actually read, not the name
            return tomllib.loads(file.read().decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None


def refuse_unsafe_file(path: Path, status: os.stat_result) -> None:
    """As ssh does with its config: a file someone else owns or can write is not read at all."""
    me = os.geteuid()
    if status.st_uid not in (me, 0):
        raise ConfigError(
            f"{path}: owned by {_user_name(status.st_uid)}, not you ({_user_name(me)}), so it is not read; "
            f"check it and `chown {_user_name(me)} {path}` (or copy it and pass the copy with --config)"
        )
    if not stat.S_ISREG(status.st_mode):
        raise ConfigError(f"{path}: not a regular file")
    if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            f"{path}: writable by {'others' if status.st_mode & stat.S_IWOTH else 'its group'} "
            f"(mode {stat.S_IMODE(status.st_mode):04o}), so it is not read; fix it with `chmod go-w {path}`"
        )


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _refuse_keys_in_file(data: Mapping[str, Any], path: Path) -> None:
    """A key written into rel.toml would be ignored and could end up in a commit: say so instead."""
    for name, value in data.items():
        if "api_key" in name.lower() and name != "api_key_env":
            raise ConfigError(
                f"{path}: {name}: API keys do not belong in the config file; set {' or '.join(KEY_VARIABLES)} in the environment"
            )
        if isinstance(value, Mapping):
            _refuse_keys_in_file(value, path)


def _refuse_credentials_in_environment(environ: Mapping[str, str]) -> None:
    for name in BASE_URL_VARIABLES:
        try:
            refuse_credentials_in_url(environ.get(name))
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None


# -- what a project file may do with keys ------------------------------------------------------------


def check_project_trust(project: Mapping[str, Any], settings: Settings, user: Settings, path: Path, user_path: Path) -> None:
    """A project file may not send a key anywhere the user did not choose (see the module docstring).

    `project` is the project file's raw tables, `settings` the merged result, `user` the user config alone."""
    for provider in PROVIDER_DOMAINS:
        url = project.get(provider, {}).get("base_url")
        if url and not key_may_go_to(provider, url, settings.trust):
            raise ConfigError(
                f"{path}: [{provider}] base_url sends {DEFAULT_KEY_VARIABLE[provider]} to {_host(url)!r}, a host you have not "
                f'trusted; add it to [trust] hosts in {user_path}, or use [models."{provider}:NAME"] base_url (sent no key)'
            )
    named = set(settings.trust.key_variables) | {m.api_key_env for m in user.models.values() if m.api_key_env}
    for spec, table in project.get("models", {}).items():
        model = settings.models[spec]
        if not model.base_url or not model.api_key_env or not ({"base_url", "api_key_env"} & set(table)):
            continue  # no key is sent, or the route is the user config's own
        provider = spec.partition(":")[0]
        if model.api_key_env not in (*KEY_VARIABLES, *named):
            raise ConfigError(
                f'{path}: [models."{spec}"] api_key_env = "{model.api_key_env}": a project file may name only a variable '
                f"your user config names; add it to [trust] key_variables in {user_path}"
            )
        if not key_may_go_to(provider, model.base_url, settings.trust):
            raise ConfigError(
                f'{path}: [models."{spec}"] sends {model.api_key_env} to {_host(model.base_url)!r}, a host you have not '
                f"trusted; add it to [trust] hosts in {user_path}"
            )


def key_may_go_to(provider: str, url: str, trust: TrustSettings) -> bool:
    """The provider's own API, this machine, or a host the user config lists."""
    host = _host(url)
    domain = PROVIDER_DOMAINS.get(provider)
    if domain and (host == domain or host.endswith("." + domain)):
        return True
    return is_loopback(host) or host in {h.lower().strip("[]") for h in trust.hosts}


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) is this machine's loopback."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _validate(data: Mapping[str, Any], where: str) -> Settings:
    from pydantic import ValidationError

    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{where}: {field}: {first['msg']}") from None


def env_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """{dotted setting: value} from REL_GENERATOR, REL_CRITIC and REL_<SECTION>__<FIELD>."""
    found = {}
    for name in ("generator", "critic"):
        if environ.get(f"{ENV_PREFIX}{name.upper()}"):
            found[name] = environ[f"{ENV_PREFIX}{name.upper()}"]
    for section, model in SECTIONS.items():
        prefix = f"{ENV_PREFIX}{section.upper()}{ENV_NESTED}"
        fields = model.model_fields
        for variable, value in environ.items():
            if variable.startswith(prefix) and variable[len(prefix) :].lower() in fields:
                found[f"{section}.{variable[len(prefix) :].lower()}"] = value
    return found


def apply_env_overrides(settings: Settings, environ: Mapping[str, str]) -> Settings:
    overrides = env_overrides(environ)
    return apply_overrides(settings, overrides, where=f"environment ({', '.join(_env_name(k) for k in overrides)})")


def _env_name(dotted: str) -> str:
    return ENV_PREFIX + dotted.upper().replace(".", ENV_NESTED)


def apply_overrides(settings: Settings, overrides: Mapping[str, Any], where: str = "override") -> Settings:
    """A new Settings with `{"loop.concurrency": 4, "generator": "..."}` applied; None values are skipped."""
    data = settings.model_dump()
    for dotted, value in overrides.items():
        if value is None:
            continue
        *sections, name = dotted.split(".")
        target = data
        for section in sections:
            target = target[section]
        target[name] = value
    return _validate(data, where)


def apply_cli_overrides(settings: Settings, **flags: Any) -> Settings:
    """Apply `rel-tui` flags by their option names (generator, critic, concurrency, max_iterations, budget)."""
    unknown = set(flags) - set(CLI_OVERRIDES)
    if unknown:
        raise ValueError(f"no setting for flag(s): {', '.join(sorted(unknown))}")
    return apply_overrides(settings, {CLI_OVERRIDES[flag]: value for flag, value in flags.items()})


# -- showing the effective configuration -------------------------------------------------------------


def render_settings(
    settings: Settings,
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
    user_config: Path | None = None,
) -> str:
    """The effective configuration as TOML, with API keys shown only as set/unset."""
    environ = os.environ if environ is None else environ
    lines = []
    if user_config is not None:
        lines.append(f"# user config (trusted): {user_config}{'' if user_config.exists() else ' (not found)'}")
    if config_path is not None:
        lines.append(f"# config file: {config_path}{'' if config_path.exists() else ' (not found: defaults)'}")
    overridden = env_overrides(environ)
    if overridden:
        lines.append(f"# from the environment: {', '.join(_env_name(k) for k in overridden)}")
    data = settings.model_dump(mode="json")
    lines += _toml_table([], {k: v for k, v in data.items() if k != "models"})
    for spec, model in data["models"].items():
        lines += ["", f"[models.{_toml_key(spec)}]"]
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in model.items() if v is not None]
    lines += ["", "[environment]  # read at call time; key values are never shown"]
    lines += [f"{name} = {_set_or_unset(environ, name)}" for name in KEY_VARIABLES]
    for spec, model in settings.models.items():
        if model.api_key_env:
            lines.append(f"{model.api_key_env} = {_set_or_unset(environ, model.api_key_env)}  # {spec}")
    lines += [f"{name} = {_toml_value(redact_url(environ[name]))}" for name in BASE_URL_VARIABLES if environ.get(name)]
    return "\n".join(lines) + "\n"


def _set_or_unset(environ: Mapping[str, str], name: str) -> str:
    return '"set"' if environ.get(name) else '"unset"'


def _toml_table(path: list[str], table: Mapping[str, Any]) -> list[str]:
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items() if not isinstance(v, Mapping) and v is not None]
    unset = [k for k, v in table.items() if v is None]
    if unset:
        lines.append(f"# not set: {', '.join(unset)}")
    for key, value in table.items():
        if isinstance(value, Mapping):
            lines += ["", f"[{'.'.join([*path, key])}]", *_toml_table([*path, key], value)]
    return lines


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else f'"{key}"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str) and "://" in value:
        value = redact_url(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def redact_url(url: str) -> str:
    """A base URL may carry user:password@ or ?key=...; show it without their values."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(f"{pair.partition('=')[0]}=***" for pair in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
