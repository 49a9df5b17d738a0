"""What a call cost: the bundled price table (prices.toml), overridden per model in the settings.

Unknown models cost None, never 0: a zero would hide spend from budgets and reports.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tomllib
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from urllib.parse import urlsplit

from ..config import ModelSettings, Settings
from .base import BASE_URL_ENV, split_spec

HOSTED_DOMAINS = {"openai": "openai.com", "anthropic": "anthropic.com"}

# Dated snapshots and aliases share their family's price: gpt-4o-2024-08-06, claude-sonnet-4-5-20250929.
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


@dataclass(frozen=True)
class Price:
    input_per_million: float
    output_per_million: float
    cached_input_per_million: float | None = None
    """Prompt-cache reads; None: unknown (a call that read from the cache then has no known cost)."""
    cache_write_per_million: float | None = None
    """Prompt-cache writes (Anthropic); None: unknown."""

    def cost(
        self, input_tokens: int, output_tokens: int, cached_input_tokens: int | None = None, cache_write_tokens: int | None = None
    ) -> float | None:
        """USD; input_tokens counts every prompt token, the cached reads and writes among them."""
        read, written = cached_input_tokens or 0, cache_write_tokens or 0
        if (read and self.cached_input_per_million is None) or (written and self.cache_write_per_million is None):
            return None
        fresh = max(0, input_tokens - read - written)
        total = fresh * self.input_per_million + output_tokens * self.output_per_million
        total += read * (self.cached_input_per_million or 0.0) + written * (self.cache_write_per_million or 0.0)
        return total / 1_000_000

    def scaled(self, factor: float) -> Price:
        """Every rate times `factor`; an unknown rate stays unknown."""
        cached, written = self.cached_input_per_million, self.cache_write_per_million
        return Price(
            self.input_per_million * factor,
            self.output_per_million * factor,
            None if cached is None else cached * factor,
            None if written is None else written * factor,
        )


# OpenAI Batch and Anthropic Message Batches both charge half the standard price, every rate (the
# cache discounts stack with the batch one).
BATCH_DISCOUNT = 0.5


@dataclass(frozen=True)
class Listing:
    """A model's row in the bundled table."""

    standard: Price
    batch: Price | None = None
    """The row's own batch price (`batch_input`, `batch_output`); None: BATCH_DISCOUNT of the standard one."""

    @classmethod
    def from_row(cls, row: dict[str, float]) -> Listing:
        standard = Price(row["input"], row["output"], row.get("cached_input"), row.get("cache_write"))
        if "batch_input" not in row:
            return cls(standard)
        half = standard.scaled(BATCH_DISCOUNT)  # the rates the row gives no batch price for
        own = replace(
            half, input_per_million=row["batch_input"], output_per_million=row.get("batch_output", half.output_per_million)
        )
        return cls(standard, own)


@cache
def bundled_listings() -> dict[str, dict[str, Listing]]:
    """{provider: {model: Listing}} from the table that ships with the package."""
    text = resources.files(__package__).joinpath("prices.toml").read_text(encoding="utf-8")
    table = tomllib.loads(text)
    return {
        provider: {model: Listing.from_row(row) for model, row in models.items()}
        for provider, models in table.items()
        if isinstance(models, dict)
    }


def bundled_listing(provider: str, model: str) -> Listing | None:
    models = bundled_listings().get(provider, {})
    return models.get(model) or models.get(_DATE_SUFFIX.sub("", model))


def price_for(
    spec: str, settings: Settings, answered_model: str | None = None, *, hosted: bool | None = None, batch: bool = False
) -> Price | None:
    """The price of `spec`: config overrides first, then the bundled table (by the requested name,
    then the name the server answered with). None when either side of the price is unknown.

    The bundled table is the hosted APIs' list price: a model reached through another base_url (a
    proxy, a local vLLM that serves a model under the same name) is priced by the config only.
    `hosted` says where the call went; None works it out from the settings and environment.

    `batch`: the price in a provider batch: the table's own batch price when it has one and the
    config does not price the model, else BATCH_DISCOUNT of the standard price."""
    provider, model = split_spec(spec)
    if hosted is None:
        hosted = reaches_hosted_api(spec, settings)
    listed = None
    if hosted:
        listed = bundled_listing(provider, model) or (bundled_listing(provider, answered_model) if answered_model else None)
    override = settings.models.get(spec)
    configured = override is not None and (override.input_per_million is not None or override.output_per_million is not None)
    if batch and listed and listed.batch and not configured:
        return listed.batch
    price = _with_config(listed.standard if listed else None, override)
    return price.scaled(BATCH_DISCOUNT) if batch and price else price


def _with_config(bundled: Price | None, override: ModelSettings | None) -> Price | None:
    """`bundled` with the rates the config sets; None when the input or the output price is unknown."""
    input_price = override.input_per_million if override else None
    output_price = override.output_per_million if override else None
    cached: float | None
    written: float | None
    if input_price is not None:
        # A price set in the config knows no cache discount: cached tokens cost what the config says.
        cached = written = input_price
    else:
        input_price = bundled.input_per_million if bundled else None
        cached = bundled.cached_input_per_million if bundled else None
        written = bundled.cache_write_per_million if bundled else None
    output_price = output_price if output_price is not None else (bundled.output_per_million if bundled else None)
    if input_price is None or output_price is None:
        return None
    return Price(input_price, output_price, cached, written)


def batch_price_for(
    spec: str, settings: Settings, answered_model: str | None = None, *, hosted: bool | None = None
) -> Price | None:
    """`price_for(..., batch=True)`."""
    return price_for(spec, settings, answered_model, hosted=hosted, batch=True)


def cost_usd(
    spec: str,
    settings: Settings,
    input_tokens: int | None,
    output_tokens: int | None,
    answered_model: str | None = None,
    *,
    hosted: bool | None = None,
    batch: bool = False,
    cached_input_tokens: int | None = None,
    cache_write_tokens: int | None = None,
) -> float | None:
    """USD for one call, at the batch price with `batch`; None when a price or a token count is unknown."""
    price = price_for(spec, settings, answered_model, hosted=hosted, batch=batch)
    if price is None or input_tokens is None or output_tokens is None:
        return None
    return price.cost(input_tokens, output_tokens, cached_input_tokens, cache_write_tokens)


@cache
def is_hosted_url(provider: str, url: str | None) -> bool:
    """Whether `url` (None: the SDK's default) is the provider's own hosted API."""
    if not url:
        return True
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    return host == HOSTED_DOMAINS[provider] or host.endswith("." + HOSTED_DOMAINS[provider])


def reaches_hosted_api(spec: str, settings: Settings) -> bool:
    """Where calls for `spec` go, as the client resolves it: the model's own base_url, else the
    provider's (rel.toml, then its *_BASE_URL variable), else the hosted API."""
    provider, _ = split_spec(spec)
    own = settings.models.get(spec)
    if own is not None and own.base_url is not None:
        return is_hosted_url(provider, own.base_url)
    return is_hosted_url(provider, getattr(settings, provider).base_url or os.environ.get(BASE_URL_ENV[provider]))


# -- what the recorded calls cost ---------------------------------------------------------------


@dataclass(frozen=True)
class Spend:
    """The cost of a set of calls, honest about the ones with no known price."""

    cost_usd: float
    calls: int = 0
    unpriced: int = 0
    """Calls that used tokens but have no price (cost null): their cost is unknown, not 0."""
    failed: int = 0
    # Token counts beside the spend (not part of what makes two spends equal):
    input_tokens: int = field(default=0, compare=False)
    cached_input_tokens: int = field(default=0, compare=False)
    """Of input_tokens, read from the providers' prompt caches."""
    cache_write_tokens: int = field(default=0, compare=False)
    """Of input_tokens, written to a prompt cache."""

    def describe_cached(self) -> str:
        """`12,345 (27% of input)`: the input tokens read from a prompt cache, `0` when none."""
        if not self.cached_input_tokens:
            return "0"
        return f"{self.cached_input_tokens:,} ({self.cached_input_tokens / max(1, self.input_tokens):.0%} of input)"

    def describe(self) -> str:
        """`$0.1234`, `≥ $0.1234 (3 calls unpriced)`, or `unknown (5 calls unpriced)`."""
        if not self.unpriced:
            return f"${self.cost_usd:.4f}"
        calls = f"{self.unpriced} call{'' if self.unpriced == 1 else 's'} unpriced"
        if self.cost_usd <= 0:
            return f"unknown ({calls})"
        return f"≥ ${self.cost_usd:.4f} ({calls})"


def recorded_spend(conn: sqlite3.Connection) -> Spend:
    """The spend over every call in llm_calls."""
    columns = {row[1] for row in conn.execute("pragma table_info(llm_calls)")}
    # A read-only database from before m007 has no cache columns: nothing was recorded as cached.
    cached = "cached_input_tokens" if "cached_input_tokens" in columns else "0"
    written = "cache_write_tokens" if "cache_write_tokens" in columns else "0"
    row = conn.execute(
        "select coalesce(sum(cost_usd), 0), count(*), "
        "coalesce(sum(cost_usd is null and input_tokens is not null), 0), coalesce(sum(error is not null), 0), "
        f"coalesce(sum(input_tokens), 0), coalesce(sum({cached}), 0), coalesce(sum({written}), 0) "
        "from llm_calls"
    ).fetchone()
    return Spend(float(row[0]), *(int(value) for value in row[1:]))
