"""Settings: a TOML file (`rel.toml` beside the database, or `REL_CONFIG`), then env, then CLI flags.

API keys are never part of these settings: the SDKs read them from the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class ProviderSettings(BaseModel):
    """Connection settings for one provider (openai, anthropic)."""

    base_url: str | None = None
    """Overrides the SDK's default (and its *_BASE_URL environment variable)."""
    max_retries: int = 6
    """Retries the SDK itself makes on 408/409/429/5xx and connection errors (it honours retry-after)."""
    timeout: float = 600.0
    """Seconds before one HTTP request is abandoned."""
    concurrency: int = 16
    """Requests in flight at once to this provider."""
    requests_per_minute: float | None = None
    """Optional client-side rate limit."""


class ModelSettings(BaseModel):
    """Per-model overrides, keyed by model spec (e.g. `openai:qwen2.5-7b`)."""

    base_url: str | None = None
    """Send this model's requests to another OpenAI-compatible server (vLLM, Ollama, llama.cpp)."""
    input_per_million: float | None = None
    """USD per million input tokens; overrides the bundled price table."""
    output_per_million: float | None = None
    """USD per million output tokens."""


class LoopSettings(BaseModel):
    """How the Reasoning Enhancement Loop runs."""

    max_iterations: int = 3
    """Revisions with a critic hint before the final rewrite with the reference solution."""
    temperature: float = 1.0
    """Generator temperature for the first draft."""
    temperature_decay: float = 0.9
    """Multiplied into the temperature at each revision (REL used 0.9)."""
    max_tokens: int = 8192
    """Output token limit for generator calls."""
    critic_when_correct: bool = False
    """Ask the LLM critic for comments even when the answer check says the answer is right."""
    cleanup: bool = False
    """Run a clean-up pass over a correct final rewrite before review."""
    template_dir: Path | None = None
    """Directory of prompt templates that replace the bundled ones, file by file."""
    lease_seconds: float = 900.0
    """How long a claim on a problem lasts before another runner may take it over."""
    concurrency: int = 8
    """Problems worked on at once by `--auto`."""
    budget_usd: float | None = None
    """Stop starting new problems once this much has been spent in the run."""


class ReviewSettings(BaseModel):
    """The review TUI."""

    annotator: str | None = None
    """Name recorded with each decision; defaults to the login name."""
    keymap: dict[str, str] = Field(default_factory=dict)
    """Binding id to keys, e.g. {"accept" = "a,enter"}."""
    autosave_seconds: float = 3.0
    """How often an edit in progress is saved to the database."""


class Settings(BaseModel):
    generator: str = "openai:gpt-4o-mini"
    """Model spec `provider:model` that writes worked solutions."""
    critic: str = "openai:gpt-4o-mini"
    """Model spec that marks them against the reference answer."""
    openai: ProviderSettings = Field(default_factory=ProviderSettings)
    anthropic: ProviderSettings = Field(default_factory=ProviderSettings)
    models: dict[str, ModelSettings] = Field(default_factory=dict)
    loop: LoopSettings = Field(default_factory=LoopSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)


class ConfigError(Exception):
    """The config file is missing, unreadable or invalid; the message is one line."""


def config_path_for(db_path: Path, explicit: str | Path | None = None) -> Path:
    """`REL_CONFIG` (passed in as `explicit`) or `rel.toml` beside the database."""
    return Path(explicit) if explicit else Path(db_path).resolve().parent / "rel.toml"


def load_settings(db_path: Path, explicit: str | Path | None = None) -> Settings:
    import tomllib

    from pydantic import ValidationError

    path = config_path_for(db_path, explicit)
    if not path.exists():
        if explicit:
            raise ConfigError(f"config file {path} does not exist")
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return Settings.model_validate(data)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
