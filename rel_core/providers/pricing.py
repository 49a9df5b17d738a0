"""What a call cost: the bundled price table (prices.toml), overridden per model in the settings.

Unknown models cost None, never 0: a zero would hide spend from budgets and reports.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..config import Settings
from .base import split_spec

# Dated snapshots and aliases share their family's price: gpt-4o-2024-08-06, claude-sonnet-4-5-20250929.
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


@dataclass(frozen=True)
class Price:
    input_per_million: float
    output_per_million: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_million + output_tokens * self.output_per_million) / 1_000_000


@cache
def bundled_prices() -> dict[str, dict[str, Price]]:
    """{provider: {model: Price}} from the table that ships with the package."""
    text = resources.files(__package__).joinpath("prices.toml").read_text(encoding="utf-8")
    table = tomllib.loads(text)
    return {
        provider: {model: Price(p["input"], p["output"]) for model, p in models.items()}
        for provider, models in table.items()
        if isinstance(models, dict)
    }


def bundled_price(provider: str, model: str) -> Price | None:
    models = bundled_prices().get(provider, {})
    return models.get(model) or models.get(_DATE_SUFFIX.sub("", model))


def price_for(spec: str, settings: Settings, answered_model: str | None = None) -> Price | None:
    """The price of `spec`: config overrides first, then the bundled table (by the requested name,
    then the name the server answered with). None when either side of the price is unknown."""
    provider, model = split_spec(spec)
    bundled = bundled_price(provider, model) or (bundled_price(provider, answered_model) if answered_model else None)
    override = settings.models.get(spec)
    input_price = override.input_per_million if override and override.input_per_million is not None else None
    output_price = override.output_per_million if override and override.output_per_million is not None else None
    input_price = input_price if input_price is not None else (bundled.input_per_million if bundled else None)
    output_price = output_price if output_price is not None else (bundled.output_per_million if bundled else None)
    if input_price is None or output_price is None:
        return None
    return Price(input_price, output_price)


def cost_usd(
    spec: str, settings: Settings, input_tokens: int | None, output_tokens: int | None, answered_model: str | None = None
) -> float | None:
    price = price_for(spec, settings, answered_model)
    if price is None or input_tokens is None or output_tokens is None:
        return None
    return price.cost(input_tokens, output_tokens)
