"""Cost per verified solution, with and without prompt caching, on a usage profile.

    .venv/bin/python bench/cost_per_solution.py

The profile is the loop's own step sequences (right first time: generate; wrong once: generate,
critic, revise; wrong twice: generate, critic, revise, critic, revise; a right answer is decided
by the answer check, with no critic call) in two mixes, with the token counts below, priced by the
bundled price table through rel_core's pricing code. "Cached" assumes what the providers
report when a problem's calls share their prefix: OpenAI reads it from its cache on every call
after the first (no write charge); Anthropic writes it on the first call of each role (1.25x the
input price) and reads it on the later ones (0.1x). A role's prefix is cached only when it reaches
the provider's minimum (1,024 tokens for the models below).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rel_core.config import Settings
from rel_core.providers.pricing import cost_usd

MIN_CACHEABLE = 1024
# Tokens per call: the role's shared prefix (system message: role, problem, reference for the
# critic), the step's own prompt after it (instructions, the attempt), and the answer.
PROFILES = {
    "MATH-size problem (short statement)": {"generator_prefix": 260, "critic_prefix": 700, "attempt": 1200, "critic_out": 250},
    "long problem (data tables, a long reference solution)": {
        "generator_prefix": 2400,
        "critic_prefix": 4200,
        "attempt": 1500,
        "critic_out": 300,
    },
}
# Share of problems right first time, wrong once, wrong twice.
MIXES = {"easy set (as bench_loop.py)": (0.75, 0.25, 0.0), "hard set": (0.3, 0.4, 0.3)}


def calls(profile: dict) -> list[list[tuple[str, int, int]]]:
    """Per problem kind: the calls as (role, input tokens after the prefix, output tokens)."""
    attempt, critic_out = profile["attempt"], profile["critic_out"]
    generate = ("generator", 350, attempt)
    critic = ("critic", 150 + attempt, critic_out)
    revise = ("generator", 450 + attempt, attempt)
    second_critic = ("critic", 150 + 2 * attempt, critic_out)
    second_revise = ("generator", 450 + 2 * attempt, attempt)
    return [[generate], [generate, critic, revise], [generate, critic, revise, second_critic, second_revise]]


def problem_cost(spec: str, profile: dict, sequence: list, cached: bool) -> float:
    anthropic = spec.startswith("anthropic:")
    total, seen = 0.0, set()
    for role, own, out in sequence:
        prefix = profile[f"{role}_prefix"]
        read = written = 0
        if cached and prefix >= MIN_CACHEABLE:
            if role in seen:
                read = prefix
            elif anthropic:
                written = prefix
            seen.add(role)
        cost = cost_usd(
            spec, Settings(), prefix + own, out, hosted=True, cached_input_tokens=read, cache_write_tokens=written or None
        )
        total += cost
    return total


def main() -> None:
    for name, profile in PROFILES.items():
        sequences = calls(profile)
        for mix_name, mix in MIXES.items():
            print(f"{name}, {mix_name}: USD per 1,000 verified solutions, without → with caching")
            for spec in ("openai:gpt-4o-mini", "openai:gpt-4.1", "anthropic:claude-sonnet-4-5"):
                without, with_cache = (
                    sum(
                        share * problem_cost(spec, profile, sequence, cached)
                        for share, sequence in zip(mix, sequences, strict=True)
                    )
                    * 1000
                    for cached in (False, True)
                )
                print(f"  {spec:30} ${without:8.3f} → ${with_cache:8.3f} ({with_cache / without - 1:+.1%})")


if __name__ == "__main__":
    main()
