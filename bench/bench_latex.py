"""LaTeX rendering benchmark: `readable_math` on a realistic 50 KB draft, and on adversarial inputs
at two sizes, to show the time grows linearly (a ratio near the size ratio, 4×, not 16×).

    .venv/bin/python bench/bench_latex.py [--repeat 7]

The render cache is cleared before every run, so each figure is a cold render.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from rel_tui.latex import _render, readable_math

EXPRESSIONS = [
    r"a \equiv {n} \pmod{{{m}}}", r"\frac{{x^2}}{{{n}}}\ln x", r"e^{{{n}u}}", r"\overline{{AB}} = {n}",
    r"\binom{{{n}}}{{{m}}} = \frac{{{n}!}}{{{m}!({n}-{m})!}}", r"\sqrt{{x+{n}}}", r"\sqrt[3]{{{n}}}",
    r"\sum_{{k=1}}^{{{n}}} k^2 = \frac{{n(n+1)(2n+1)}}{{6}}", r"\gcd({n}, {m}) = 1", r"x_{{n+1}} = \dfrac{{x_n}}{{{m}}}",
    r"\lim_{{x \to 0}} \frac{{\sin {n}x}}{{x}} = {n}", r"\int_0^{{{n}}} x^{{{m}}}\,dx", r"\angle ABC = {n}^\circ",
    r"\left\lfloor \frac{{{n}}}{{{m}}} \right\rfloor", r"x \in \mathbb{{R}} \setminus \{{{n}\}}", r"{n} \bmod {m}",
    r"a^{{\phi({n})}} \equiv 1", r"\log_{{{m}}} {n}", r"\triangle ABC \sim \triangle DEF", r"{n}\cdot{m} = {p}",
]  # fmt: skip


def realistic_draft(size: int, seed: int = 0) -> str:
    """Markdown prose with inline and display maths, lists and a table, like a model's worked solution."""
    rng = random.Random(seed)
    parts, total, step = [], 0, 1
    while total < size:

        def expression() -> str:
            n, m = rng.randint(2, 999), rng.randint(2, 99)
            return rng.choice(EXPRESSIONS).format(n=n, m=m, p=n * m)

        block = (
            f"## Step {step}\n\nWe note that ${expression()}$, and since ${expression()}$ we get "
            f"\\({expression()}\\). Costs are $5 and $6, 100% of cases_with_underscores *matter*.\n\n"
            f"$$\n{expression()}\n$$\n\n- first, ${expression()}$\n- then \\[{expression()}\\]\n\n"
            f"| n | value |\n|---|---|\n| {step} | ${expression()}$ |\n\n"
        )
        parts.append(block)
        total += len(block)
        step += 1
    return "".join(parts)[:size]


def adversarial(size: int) -> dict[str, str]:
    half = size // 2
    return {
        "unclosed \\[": "\\[" * half,
        "dollars": "$" * size,
        "backslashes": "\\" * size,
        "$a$ spans": "$a$ " * (size // 4),
        "braces in \\[…\\]": "\\[" + "{" * (size - 4) + "\\]",
        "carets in $…$": "$" + "x^" * (half - 1) + "$",
        "nested \\frac 200 deep, repeated": ("$" + "\\frac{" * 200 + "1" + "}{2}" * 200 + "$ ") * max(1, size // 1210),
        "one long line": "word " * (size // 5),
    }


def median_seconds(text: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        _render.cache_clear()
        started = time.perf_counter()
        readable_math(text)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    draft = realistic_draft(50_000)
    print(f"realistic draft, {len(draft) // 1000} KB: median {median_seconds(draft, args.repeat) * 1000:.1f} ms")
    small, large = 50_000, 200_000
    print(f"\nadversarial inputs: median at {small // 1000} KB and {large // 1000} KB (linear: ratio ≈ 4)")
    for (name, a), b in zip(adversarial(small).items(), adversarial(large).values(), strict=True):
        t_small, t_large = median_seconds(a, args.repeat), median_seconds(b, args.repeat)
        print(f"  {name:34} {t_small * 1000:8.1f} ms {t_large * 1000:8.1f} ms   ratio {t_large / max(t_small, 1e-9):4.1f}")


if __name__ == "__main__":
    main()
