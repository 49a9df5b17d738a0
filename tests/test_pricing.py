"""The one pricing path: standard and batch rates, cached tokens, unknown models and other servers."""

from __future__ import annotations

import pytest

from rel_core.config import ModelSettings, ProviderSettings, Settings
from rel_core.providers import pricing
from rel_core.providers.pricing import Listing, cost_usd, price_for


def test_a_batch_call_costs_half_of_every_rate_the_cached_ones_included():
    settings = Settings()
    # gpt-4o-mini: input 0.15, cached input 0.075, output 0.60 per million; batch: half of each.
    cost = cost_usd("openai:gpt-4o-mini", settings, 2006, 300, hosted=True, batch=True, cached_input_tokens=1920)
    assert cost == pytest.approx((86 * 0.075 + 1920 * 0.0375 + 300 * 0.30) / 1e6)
    standard = cost_usd("openai:gpt-4o-mini", settings, 2006, 300, hosted=True, cached_input_tokens=1920)
    assert cost == pytest.approx(standard / 2)
    # claude-sonnet-4-5: input 3.00, cache write 3.75, cache read 0.30, output 15.00 per million; batch: half.
    write = cost_usd("anthropic:claude-sonnet-4-5", settings, 188107, 393, hosted=True, batch=True, cache_write_tokens=188086)
    read = cost_usd("anthropic:claude-sonnet-4-5", settings, 188107, 393, hosted=True, batch=True, cached_input_tokens=188086)
    assert write == pytest.approx((21 * 1.5 + 188086 * 1.875 + 393 * 7.5) / 1e6)
    assert read == pytest.approx((21 * 1.5 + 188086 * 0.15 + 393 * 7.5) / 1e6)


def test_an_unknown_cached_rate_leaves_a_batch_cost_unknown():
    settings = Settings()  # gpt-4-turbo has no cached_input price
    assert cost_usd("openai:gpt-4-turbo", settings, 2000, 10, hosted=True, batch=True) is not None
    assert cost_usd("openai:gpt-4-turbo", settings, 2000, 10, hosted=True, batch=True, cached_input_tokens=1024) is None


@pytest.mark.parametrize("batch", [False, True])
def test_an_unknown_model_stays_unpriced(batch):
    settings = Settings()
    assert price_for("openai:my-finetune", settings, hosted=True, batch=batch) is None
    assert cost_usd("openai:my-finetune", settings, 100, 10, hosted=True, batch=batch) is None
    assert cost_usd("openai:gpt-4o-mini", settings, None, 10, hosted=True, batch=batch) is None  # tokens unknown
    # The name the server answered with is the second chance.
    answered = cost_usd("openai:my-alias", settings, 1_000_000, 0, "gpt-4o-mini-2024-07-18", hosted=True, batch=batch)
    assert answered == pytest.approx(0.15 / (2 if batch else 1))


@pytest.mark.parametrize("batch", [False, True])
def test_a_custom_base_url_is_unpriced_unless_the_config_prices_it(monkeypatch, batch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    local = Settings(openai=ProviderSettings(base_url="http://127.0.0.1:8000/v1"))
    assert price_for("openai:gpt-4o-mini", local, batch=batch) is None
    assert cost_usd("openai:gpt-4o-mini", local, 1000, 100, batch=batch) is None
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    assert cost_usd("openai:gpt-4o-mini", Settings(), 1000, 100, batch=batch) is None
    priced = Settings(
        openai=ProviderSettings(base_url="http://127.0.0.1:8000/v1"),
        models={"openai:gpt-4o-mini": ModelSettings(input_per_million=1.0, output_per_million=2.0)},
    )
    assert cost_usd("openai:gpt-4o-mini", priced, 1_000_000, 1_000_000, batch=batch) == pytest.approx(3.0 / (2 if batch else 1))


def test_a_config_price_applies_to_cached_tokens_and_is_halved_in_a_batch():
    settings = Settings(models={"openai:gpt-4o-mini": ModelSettings(input_per_million=1.0, output_per_million=2.0)})
    standard = cost_usd("openai:gpt-4o-mini", settings, 1_000_000, 0, hosted=True, cached_input_tokens=500_000)
    batch = cost_usd("openai:gpt-4o-mini", settings, 1_000_000, 0, hosted=True, batch=True, cached_input_tokens=500_000)
    assert (standard, batch) == (pytest.approx(1.0), pytest.approx(0.5))


def test_a_rows_own_batch_price_wins_unless_the_config_prices_the_model(monkeypatch):
    row = {"input": 2.0, "output": 8.0, "cached_input": 1.0, "batch_input": 0.8}
    monkeypatch.setattr(pricing, "bundled_listings", lambda: {"openai": {"gpt-x": Listing.from_row(row)}})
    own = price_for("openai:gpt-x", Settings(), hosted=True, batch=True)
    # batch_input from the row; the rates it does not give are half the standard ones.
    assert (own.input_per_million, own.output_per_million, own.cached_input_per_million) == (0.8, 4.0, 0.5)
    assert price_for("openai:gpt-x", Settings(), hosted=True).input_per_million == 2.0
    configured = Settings(models={"openai:gpt-x": ModelSettings(input_per_million=1.0)})
    batch = price_for("openai:gpt-x", configured, hosted=True, batch=True)
    assert (batch.input_per_million, batch.output_per_million) == (0.5, 4.0)
