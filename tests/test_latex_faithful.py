"""LaTeX shown as Unicode never changes meaning: a table of competition-maths expressions and what the
expert sees, plus the span finder, the Markdown and answer-field helpers.

RAW marks expressions that have no faithful rendering: they must come out exactly as written.
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.markdown import Markdown

from rel_tui.latex import (
    math_to_unicode,
    readable_answer,
    readable_markdown,
    readable_math,
)

RAW = None

CASES = [
    # The examples.
    (r"a \bmod b", "a mod b"),
    (r"13 \bmod 4 = 1", "13 mod 4 = 1"),
    (r"x\ln x", "x ln x"),
    (r"\frac{x^2}{2}\ln x", "(x²/2) ln x"),
    (r"e^{2u}", "e^(2u)"),
    (r"\overline{AB}", "A̅B̅"),
    # Operator names keep their spacing.
    (r"\ln x", "ln x"),
    (r"\sin x + \cos x", "sin x + cos x"),
    (r"\sin x\cos x", "sin x cos x"),
    (r"2\sin x", "2 sin x"),
    (r"\cos(2\theta)", "cos(2θ)"),
    (r"\log_2 x", "log₂ x"),
    (r"\log_{10} 1000 = 3", "log₁₀ 1000 = 3"),
    (r"\log_{b} a", "log_b a"),
    (r"\exp(x^2)", "exp(x²)"),
    (r"a \equiv b \pmod{n}", "a ≡ b (mod n)"),
    (r"x \equiv 2 \pmod 3", "x ≡ 2 (mod 3)"),
    (r"2^{10} \equiv 1 \pmod{11}", "2¹⁰ ≡ 1 (mod 11)"),
    (r"a^{p-1} \equiv 1 \pmod p", "a^(p-1) ≡ 1 (mod p)"),
    (r"n \equiv 1 \pmod{2^k}", "n ≡ 1 (mod 2ᵏ)"),
    (r"a \bmod 7", "a mod 7"),
    # \mod takes one token, but TeX sets what follows right after it: `\mod 14` is "mod 14".
    (r"(i + 7) \mod 14", "(i + 7) mod 14"),
    (r"a \equiv b \mod 12", "a ≡ b mod 12"),
    (r"a \equiv b \mod{12}", "a ≡ b mod 12"),
    (r"x \mod 3x", "x mod 3x"),
    (r"a \equiv 1 \mod n", "a ≡ 1 mod n"),
    # TeX sets `\pmod 12` as "(mod 1)2": not what was meant, so it is shown as written.
    (r"10 \pmod 12", RAW),
    (r"x \pod 52", RAW),
    (r"x \pod{5}", "x (5)"),
    (r"10 \equiv 3 \pmod 7.", "10 ≡ 3 (mod 7)."),
    (r"\gcd(12, 18) = 6", "gcd(12, 18) = 6"),
    (r"\operatorname{lcm}(4, 6) = 12", "lcm(4, 6) = 12"),
    (r"\lcm(4,6)", "lcm(4,6)"),
    (r"\gcd(a, b) \cdot \operatorname{lcm}(a, b) = ab", "gcd(a, b) · lcm(a, b) = ab"),
    (r"\mathrm{lcm}(a, b)", "lcm(a, b)"),
    (r"\operatorname{sgn}(x)", "sgn(x)"),
    (r"\operatorname*{argmax}_x f(x)", "argmaxₓ f(x)"),
    (r"\max(a, b)", "max(a, b)"),
    (r"\min_{x \in S} f(x)", "min_(x∈S) f(x)"),
    (r"\max_{1 \le i \le n} a_i", "max_(1≤i≤n) aᵢ"),
    (r"\lim_{n \to \infty} \frac{1}{n} = 0", "lim_(n→∞) (1/n) = 0"),
    (r"\lim_{x \to 0} \frac{\sin x}{x} = 1", "lim_(x→0) ((sin x)/x) = 1"),
    (r"\limsup_{n\to\infty} a_n", "limsup_(n→∞) aₙ"),
    (r"\det(A) = 0", "det(A) = 0"),
    (r"\det A", "det A"),
    (r"O(n \log n)", "O(n log n)"),
    (r"\sin^2\theta + \cos^2\theta = 1", "sin² θ + cos² θ = 1"),
    (r"\tan\theta = \frac{\sin\theta}{\cos\theta}", "tan θ = (sin θ)/(cos θ)"),
    (r"\cos 60^\circ = \frac{1}{2}", "cos 60° = 1/2"),
    (r"\sin(\alpha + \beta)", "sin(α + β)"),
    (r"\arctan\frac{1}{2}", "arctan(1/2)"),
    (r"\ln\frac{a}{b}", "ln(a/b)"),
    (r"e^{\ln x} = x", "e^(ln x) = x"),
    (r"\sinh x = \frac{e^x - e^{-x}}{2}", "sinh x = (eˣ - e⁻ˣ)/2"),
    (r"\Pr[X = k]", "Pr[X = k]"),
    # Scripts: Unicode only when every character has a form, otherwise grouped.
    (r"x^2 - 5x + 6 = 0", "x² - 5x + 6 = 0"),
    (r"a^2 + b^2 = c^2", "a² + b² = c²"),
    (r"(a+b)^2 = a^2 + 2ab + b^2", "(a+b)² = a² + 2ab + b²"),
    (r"(x+1)^{10}", "(x+1)¹⁰"),
    (r"10^{100}", "10¹⁰⁰"),
    (r"10^{-3}", "10⁻³"),
    (r"x^{-1}", "x⁻¹"),
    (r"x^{2k+1}", "x²ᵏ⁺¹"),
    (r"x^{n + 1}", "xⁿ⁺¹"),
    (r"x^{ab}", "x^(ab)"),
    (r"x^{1/2}", "x^(1/2)"),
    (r"x^{\alpha}", "x^α"),
    (r"x^*", "x^*"),
    (r"A^c", "A^c"),
    (r"a^{m+n} = a^m a^n", "a^(m+n) = a^m aⁿ"),
    (r"2^{2^n} + 1", "2^(2ⁿ) + 1"),
    (r"2^{\frac{1}{2}}", "2^(1/2)"),
    (r"e^{x}", "eˣ"),
    (r"e^{-x^2}", "e^(-x²)"),
    (r"e^{i\pi} + 1 = 0", "e^(iπ) + 1 = 0"),
    (r"e^{i\theta} = \cos\theta + i\sin\theta", "e^(iθ) = cos θ + i sin θ"),
    (r"f^{-1}(x)", "f⁻¹(x)"),
    (r"f^{(n)}(0)", "f⁽ⁿ⁾(0)"),
    (r"f^{\prime}(x)", "f′(x)"),
    (r"f'(x) = 2x", "f'(x) = 2x"),
    (r"f''(x)", "f''(x)"),
    (r"x^63", "x⁶3"),  # TeX takes one token: this is x⁶·3, whatever was meant
    (r"x_1 + x_2 = -\frac{b}{a}", "x₁ + x₂ = -b/a"),
    (r"x_1 x_2 = \frac{c}{a}", "x₁ x₂ = c/a"),
    (r"a_{n+1} = 2a_n + 1", "aₙ₊₁ = 2aₙ + 1"),
    (r"a_{ij}", "aᵢⱼ"),
    (r"a_{10}", "a₁₀"),
    (r"F_{n-1} + F_{n-2}", "Fₙ₋₁ + Fₙ₋₂"),
    (r"x_{\text{max}}", "xₘₐₓ"),
    (r"x_\text{max}", "xₘₐₓ"),
    (r"x_{\max}", "xₘₐₓ"),
    (r"a_{b_c}", "a_(b_c)"),
    (r"v_p(n!)", "vₚ(n!)"),
    (r"n = p_1^{a_1} p_2^{a_2} \cdots p_k^{a_k}", "n = p₁^(a₁) p₂^(a₂) ⋯ pₖ^(aₖ)"),
    (r"x_{k}^{2}", "xₖ²"),
    (r"x \to 0^+", "x → 0⁺"),
    (r"{}^{14}C", "¹⁴C"),
    (r"{a+b}^2", "(a+b)²"),
    (r"|x|^2", "|x|²"),
    (r"m^2", "m²"),
    (r"5\text{ cm}^2", "5 cm²"),
    (r"\text{ord}_p(a)", "ordₚ(a)"),
    # Fractions keep their grouping.
    (r"\frac{a+b}{c}", "(a+b)/c"),
    (r"\frac{1}{2}", "1/2"),
    (r"\frac12", "1/2"),
    (r"\tfrac12", "1/2"),
    (r"\dfrac{3}{4}", "3/4"),
    (r"{a \over b}", "a/b"),
    (r"\frac{1}{2} + \frac{1}{3} = \frac{5}{6}", "1/2 + 1/3 = 5/6"),
    (r"\frac{a}{b} = \frac{c}{d}", "a/b = c/d"),
    (r"\frac{1}{2}x", "(1/2)x"),
    (r"\frac{x}{y}z", "(x/y)z"),
    (r"2\frac{1}{3}", "2(1/3)"),
    (r"-\frac{1}{2}", "-1/2"),
    (r"\frac{1}{2}\cdot\frac{2}{3}", "(1/2) · (2/3)"),
    (r"\frac{1}{2}\ln 2", "(1/2) ln 2"),
    (r"\frac{4}{3}\pi r^3", "(4/3)πr³"),
    (r"\frac{\frac{a}{b}}{c}", "(a/b)/c"),
    (r"\frac{1}{\frac{1}{a} + \frac{1}{b}}", "1/(1/a + 1/b)"),
    (r"\cfrac{1}{1+\cfrac{1}{2}}", "1/(1+1/2)"),
    (r"\frac{x+1}{x-1}", "(x+1)/(x-1)"),
    (r"\frac{n(n+1)}{2}", "(n(n+1))/2"),
    (r"\frac{(a+b)}{2}", "(a+b)/2"),
    (r"\frac{(a+b)(a-b)}{2}", "((a+b)(a-b))/2"),
    (r"\frac{1}{1 - x} = \sum_{n \ge 0} x^n", "1/(1 - x) = ∑_(n≥0) xⁿ"),
    (r"\frac{d}{dx}", "d/(dx)"),
    (r"\frac{dy}{dx}", "(dy)/(dx)"),
    (r"\frac{\partial f}{\partial x}", "(∂f)/(∂x)"),
    (r"\frac{AB}{BC} = \frac{DE}{EF}", "(AB)/(BC) = (DE)/(EF)"),
    (r"s = \frac{a+b+c}{2}", "s = (a+b+c)/2"),
    (r"x = \frac{-b \pm \sqrt{b^2 - 4ac}}{2a}", "x = (-b ± √(b² - 4ac))/(2a)"),
    (r"\frac{1+\sqrt{5}}{2}", "(1+√5)/2"),
    (r"\frac{\sqrt{3}}{2}", "(√3)/2"),
    (r"\frac{1}{\sqrt{2}}", "1/√2"),
    (r"\left( \frac{1}{2} \right)^2", "(1/2)²"),
    (r"\left\lceil \frac{n}{2} \right\rceil", "⌈n/2⌉"),
    (r"\lceil \frac{n}{2} \rceil", "⌈n/2⌉"),
    (r"\ln(1+x) = x - \frac{x^2}{2} + \frac{x^3}{3} - \cdots", "ln(1+x) = x - x²/2 + x³/3 - ⋯"),
    (r"\sum_{n=0}^{\infty} \frac{x^n}{n!} = e^x", "∑ₙ₌₀^∞ (xⁿ/n!) = eˣ"),
    (r"\sum_{n=1}^{\infty} \frac{1}{n^2} = \frac{\pi^2}{6}", "∑ₙ₌₁^∞ (1/n²) = π²/6"),
    (r"f'(x) = \lim_{h \to 0} \frac{f(x+h) - f(x)}{h}", "f'(x) = lim_(h→0) ((f(x+h) - f(x))/h)"),
    (r"\lim_{x \to \infty} \left(1 + \frac{1}{x}\right)^x = e", "lim_(x→∞) (1 + 1/x)ˣ = e"),
    (r"[ABC] = \frac{1}{2} \cdot AB \cdot h", "[ABC] = (1/2) · AB · h"),
    (r"\text{Area} = \frac{1}{2}bh", "Area = (1/2)bh"),
    (r"P(A \mid B) = \frac{P(A \cap B)}{P(B)}", "P(A ∣ B) = (P(A ∩ B))/(P(B))"),
    (r"\frac{1}{2} \text{ if } x > 0", "1/2 if x > 0"),
    (r"\left. \frac{x^2}{2} \right|_0^1", "x²/2|₀¹"),
    # Roots.
    (r"\sqrt{x+1}", "√(x+1)"),
    (r"\sqrt{2}", "√2"),
    (r"\sqrt 2", "√2"),
    (r"3\sqrt{2}", "3√2"),
    (r"AB = 2\sqrt{3}", "AB = 2√3"),
    (r"\sqrt{2} + \sqrt{3}", "√2 + √3"),
    (r"\sqrt{2}x", "√(2)x"),
    (r"\sqrt{2}\alpha^2", "√(2)α²"),
    (r"\sqrt{3}/2", "√(3)/2"),
    (r"\sqrt{2} \cdot 3", "√2 · 3"),
    (r"\sqrt{a}\sqrt{b} = \sqrt{ab}", "√(a)√b = √(ab)"),
    (r"\sqrt{\frac{a}{b}}", "√(a/b)"),
    (r"\sqrt{x^2+y^2}", "√(x²+y²)"),
    (r"\sqrt{\sqrt{2}}", "√(√2)"),
    (r"\sqrt{s(s-a)(s-b)(s-c)}", "√(s(s-a)(s-b)(s-c))"),
    (r"\sqrt[3]{x}", "∛x"),
    (r"\sqrt[3]{2}+1", "∛2+1"),
    (r"\sqrt[4]{16} = 2", "∜16 = 2"),
    (r"\sqrt[n]{x}", "ⁿ√x"),
    (r"\sqrt[3]{x+1}", "∛(x+1)"),
    # Accents as combining characters.
    (r"\overline{AB} \parallel \overline{CD}", "A̅B̅ ∥ C̅D̅"),
    (r"\overline{abc}", "a̅b̅c̅"),
    (r"\overline{z} = a - bi", "z̅ = a - bi"),
    (r"|z|^2 = z\overline{z}", "|z|² = zz̅"),
    (r"\underline{x}", "x̲"),
    (r"\bar{x}", "x̄"),
    (r"\hat{\theta}", "θ̂"),
    (r"\widehat{A}", "Â"),
    (r"\tilde{n}", "ñ"),
    (r"\dot{x}", "ẋ"),
    (r"\ddot{x}", "ẍ"),
    (r"\vec{v}", "v⃗"),
    (r"\vec{u} \cdot \vec{v} = |\vec{u}||\vec{v}|\cos\theta", "u⃗ · v⃗ = |u⃗||v⃗| cos θ"),
    (r"\|\vec{v}\|", "‖v⃗‖"),
    # Binomials, text and fonts.
    (r"\binom{n}{k}", "C(n, k)"),
    (r"\binom{5}{2} = 10", "C(5, 2) = 10"),
    (r"\dbinom{n}{2} = \frac{n(n-1)}{2}", "C(n, 2) = (n(n-1))/2"),
    (r"\binom{2n}{n}", "C(2n, n)"),
    (r"{n \choose k}", "C(n, k)"),
    (r"\sum_{k=0}^{n} \binom{n}{k} = 2^n", "∑ₖ₌₀ⁿ C(n, k) = 2ⁿ"),
    (r"\text{if } n \text{ is even}", "if n is even"),
    (r"x = 1 \text{ and } y = 2", "x = 1 and y = 2"),
    (r"\textbf{Answer:} 5", "Answer: 5"),
    (r"\mathrm{d}x", "dx"),
    (r"\mathbf{u} + \mathbf{v}", "u + v"),
    (r"\mathbf{0}", "0"),
    (r"\boxed{42}", "[42]"),
    (r"x = \boxed{7}", "x = [7]"),
    (r"\boxed{\frac{1}{2}}", "[1/2]"),
    # Brackets and dots.
    (r"\left( x \right)", "(x)"),
    (r"\left[ 0, 1 \right]", "[0, 1]"),
    (r"\bigl( x \bigr)", "(x)"),
    (r"\left| x - 1 \right| < 2", "|x - 1| < 2"),
    (r"\left| x \right| \ge 0", "|x| ≥ 0"),
    (r"|x - 3| < 5", "|x - 3| < 5"),
    (r"\{1, 2, 3\}", "{1, 2, 3}"),
    (r"\left\{ 1, 2 \right\}", "{1, 2}"),
    (r"\{x \mid x > 0\}", "{x ∣ x > 0}"),
    (r"\left\{ x \middle| x > 0 \right\}", "{x | x > 0}"),
    (r"\{\,x : x^2 < 4\,\}", "{x : x² < 4}"),
    (r"\langle a, b \rangle", "⟨a, b⟩"),
    (r"\lfloor x \rfloor + \lceil y \rceil", "⌊x⌋ + ⌈y⌉"),
    (r"\left\lfloor \frac{n}{2} \right\rfloor", "⌊n/2⌋"),
    (r"\lfloor \log_2 n \rfloor", "⌊log₂ n⌋"),
    (r"\left\lfloor \frac{n}{p} \right\rfloor + \left\lfloor \frac{n}{p^2} \right\rfloor + \cdots", "⌊n/p⌋ + ⌊n/p²⌋ + ⋯"),
    (r"\lVert x \rVert", "‖x‖"),
    (r"\lvert A \rvert", "|A|"),
    (r"[0, 1)", "[0, 1)"),
    (r"(0, \infty)", "(0, ∞)"),
    (r"1 + 2 + \cdots + n", "1 + 2 + ⋯ + n"),
    (r"a_1, a_2, \ldots, a_n", "a₁, a₂, …, aₙ"),
    (r"\{1, 2, \ldots, n\}", "{1, 2, …, n}"),
    # Greek, sets, logic, arrows, relations.
    (r"\alpha + \beta + \gamma = \pi", "α + β + γ = π"),
    (r"\pi r^2", "πr²"),
    (r"2\pi r", "2πr"),
    (r"\Delta x", "Δx"),
    (r"\varepsilon > 0", "ε > 0"),
    (r"\varphi(12) = 4", "φ(12) = 4"),
    (r"\phi(n) = n \prod_{p \mid n} \left(1 - \frac{1}{p}\right)", "ϕ(n) = n ∏_(p∣n) (1 - 1/p)"),
    (r"\infty", "∞"),
    (r"\aleph_0", "ℵ₀"),
    (r"\hbar", "ℏ"),
    (r"\nabla f", "∇f"),
    (r"x \in \mathbb{R}", "x ∈ ℝ"),
    (r"\mathbb{Z}^+", "ℤ⁺"),
    (r"\mathbb{Z}/n\mathbb{Z}", "ℤ/nℤ"),
    (r"\mathbb{N} \subset \mathbb{Q} \subset \mathbb{C}", "ℕ ⊂ ℚ ⊂ ℂ"),
    (r"f: \mathbb{R} \to \mathbb{R}", "f: ℝ → ℝ"),
    (r"x \mapsto x^2", "x ↦ x²"),
    (r"A \subseteq B", "A ⊆ B"),
    (r"A \cap B = \emptyset", "A ∩ B = ∅"),
    (r"P(A \cup B) = P(A) + P(B) - P(A \cap B)", "P(A ∪ B) = P(A) + P(B) - P(A ∩ B)"),
    (r"A \setminus B", "A ∖ B"),
    (r"A \times B", "A × B"),
    (r"\overline{A}", "A̅"),
    (r"\emptyset \subset A", "∅ ⊂ A"),
    (r"x \notin A", "x ∉ A"),
    (r"\forall x \in S, \exists y", "∀x ∈ S, ∃y"),
    (r"\neg p \lor q", "¬p ∨ q"),
    (r"p \land q", "p ∧ q"),
    (r"p \Rightarrow q", "p ⇒ q"),
    (r"P \iff Q", "P ⟺ Q"),
    (r"a \implies b", "a ⟹ b"),
    (r"a \not\equiv 0 \pmod{p}", "a ≢ 0 (mod p)"),
    (r"a \not= b", "a ≠ b"),
    (r"x \not\in A", "x ∉ A"),
    (r"A \not\subset B", "A ⊄ B"),
    (r"n \mid m", "n ∣ m"),
    (r"p \nmid q", "p ∤ q"),
    (r"x \ne y", "x ≠ y"),
    (r"a \le b \le c", "a ≤ b ≤ c"),
    (r"a \geq b", "a ≥ b"),
    (r"\pi \approx 3.14", "π ≈ 3.14"),
    (r"3 \times 4 = 12", "3 × 4 = 12"),
    (r"12 \div 4 = 3", "12 ÷ 4 = 3"),
    (r"2 \cdot 3^2", "2 · 3²"),
    (r"n! = n \cdot (n-1)!", "n! = n · (n-1)!"),
    (r"x = \pm\sqrt{2}", "x = ±√2"),
    (r"a \vdash b", "a ⊢ b"),  # from pylatexenc's symbol table
    # Geometry.
    (r"\angle ABC = 90^\circ", "∠ABC = 90°"),
    (r"\angle APB = 90^{\circ}", "∠APB = 90°"),
    (r"\angle A + \angle B + \angle C = 180^\circ", "∠A + ∠B + ∠C = 180°"),
    (r"m\angle ABC", "m∠ABC"),
    (r"\triangle ABC \sim \triangle DEF", "△ABC ∼ △DEF"),
    (r"\triangle ABC \cong \triangle DEF", "△ABC ≅ △DEF"),
    (r"AB \perp BC", "AB ⊥ BC"),
    (r"\ell_1 \parallel \ell_2", "ℓ₁ ∥ ℓ₂"),
    (r"f \circ g", "f ∘ g"),
    (r"\square ABCD", "□ABCD"),
    # Calculus.
    (r"\int_0^1 x^2 \, dx = \frac{1}{3}", "∫₀¹ x² dx = 1/3"),
    (r"\int_{0}^{\pi} \sin x \, dx = 2", "∫₀^π sin x dx = 2"),
    (r"\int e^x \, dx = e^x + C", "∫ eˣ dx = eˣ + C"),
    (r"\int_a^b f(x)\,dx", "∫ₐ^b f(x) dx"),
    (r"\sum_{i=1}^{n} i = \frac{n(n+1)}{2}", "∑ᵢ₌₁ⁿ i = (n(n+1))/2"),
    (r"\prod_{k=1}^{n} k = n!", "∏ₖ₌₁ⁿ k = n!"),
    (r"\sum_{d \mid n} d", "∑_(d∣n) d"),
    (r"\displaystyle\sum_{i=1}^n i", "∑ᵢ₌₁ⁿ i"),
    # Numbers, escapes, spacing.
    (r"1{,}000{,}000", "1,000,000"),
    (r"12\,345", "12 345"),
    (r"\$5", "$5"),
    (r"50\%", "50%"),
    (r"\#\{x : x > 0\}", "#{x : x > 0}"),
    (r"a\,b\;c\quad d", "a b c d"),
    (r"x\!y", "xy"),
    (r"3.5 + 0.25", "3.5 + 0.25"),
    # No faithful rendering: shown exactly as written.
    (r"\begin{pmatrix} a & b \\ c & d \end{pmatrix}", RAW),
    (r"\begin{cases} 1 & x > 0 \\ 0 & x \le 0 \end{cases}", RAW),
    (r"\begin{aligned} a &= b \\ &= c \end{aligned}", RAW),
    (r"a &= b", RAW),
    (r"a \\ b", RAW),
    (r"\vec{AB}", RAW),
    (r"\hat{AB}", RAW),
    (r"\bar{xy}", RAW),
    (r"\overrightarrow{AB}", RAW),
    (r"\color{red}{x}", RAW),
    (r"\mathcal{F}", RAW),
    (r"\mathcal{P}(S)", RAW),
    (r"\mathbb{E}[X]", RAW),
    (r"\frac{1}{2", RAW),
    (r"\frac{1}", RAW),
    (r"\frac{}{2}", RAW),
    (r"\sqrt{}", RAW),
    (r"\sqrt[a]{x}", RAW),
    (r"x^2^3", RAW),
    (r"x^", RAW),
    (r"x_", RAW),
    (r"}{", RAW),
    (r"\xrightarrow{f}", RAW),
    (r"\underbrace{1+1}_{2}", RAW),
    (r"\overset{?}{=}", RAW),
    (r"\stackrel{?}{=}", RAW),
    (r"\cancel{x}", RAW),
    (r"\label{eq:1} x", RAW),
    (r"\tag{1}", RAW),
    (r"\substack{i<j}", RAW),
    (r"\text{$x$}", RAW),
    (r"\not\prec", RAW),
    (r"\unknownmacro", RAW),
    (r"\phantom{x}", RAW),
    (r"{a \over b \over c}", RAW),
    ("x \\", RAW),
]


def test_the_table_is_big_enough():
    assert len(CASES) >= 150
    assert len({latex for latex, _ in CASES}) == len(CASES), "duplicate rows"


@pytest.mark.parametrize(("latex", "expected"), CASES, ids=[latex for latex, _ in CASES])
def test_rendering(latex, expected):
    assert math_to_unicode(latex) == (latex if expected is RAW else expected)


# --- Spans in a draft ---------------------------------------------------------------------------


def test_prose_around_maths_is_untouched():
    text = "Costs are $5 and $6; 100% of cases_with_underscores *matter* and \\$7 too."
    assert readable_math(text) == text


def test_inline_and_display_spans():
    text = r"So $\frac{a+1}{b} \le \sqrt{2}\alpha^2$ and $$x_{n+1} = \dfrac{1}{2}$$ and \(a \bmod b\) and \[e^{2u}\]."
    assert readable_math(text) == "So (a+1)/b ≤ √(2)α² and \n\n    xₙ₊₁ = 1/2\n\n and a mod b and \n\n    e^(2u)\n\n."


@pytest.mark.parametrize(
    "text",
    ["$ x$", "$x $", "$a$5", "a $x\ny$ b", "unclosed \\[ x^2", "$$ x^2", "\\( x", "$$$$", "\\$x\\$", "\\\\[x\\\\]"],
)
def test_what_is_not_a_span_stays_prose(text):
    assert readable_math(text) == text


def test_unclosed_openers_do_not_hide_later_spans():
    assert readable_math("\\[ \\[ and $x^2$") == "\\[ \\[ and x²"
    assert readable_math("$$ a $x^2$") == "$$ a x²"


def test_a_raw_span_keeps_its_delimiters():
    assert readable_math(r"see $\vec{AB}$ here") == r"see $\vec{AB}$ here"
    shown = readable_math("$$\\begin{aligned}a&=b\\\\\nc&=d\\end{aligned}$$")
    assert shown == "\n\n    $$\\begin{aligned}a&=b\\\\\n    c&=d\\end{aligned}$$\n\n"


def test_caps_show_text_as_written():
    huge_formula = "$" + "x+" * 10_001 + "1$"
    assert readable_math(huge_formula) == huge_formula
    huge_text = "$x^2$ " + "a" * 1_000_000
    assert readable_math(huge_text) == huge_text


def test_escaped_dollar_inside_inline_maths():
    assert readable_math(r"price $\$5 \times 3$") == "price $5 × 3"


# --- Markdown and answer fields ----------------------------------------------------------------


def render_markdown(text: str) -> str:
    console = Console(width=100, file=io.StringIO(), color_system=None, force_terminal=False)
    console.print(Markdown(text))
    return console.file.getvalue()


def test_markdown_shows_inline_maths_as_written():
    draft = "We get $a*b*c$ and $x_{ab} + y_{cd}$, not $\\vec{AB}$; *this* stays emphasis."
    shown = render_markdown(readable_markdown(draft))
    assert "a*b*c" in shown
    assert "x_(ab) + y_(cd)" in shown
    assert "$\\vec{AB}$" in shown
    assert "*this*" not in shown and "this stays emphasis" in shown


def test_markdown_shows_display_maths_as_written_even_in_a_list():
    draft = "- first\n- then \\[a*b*c + x_{ab}\\]\n- raw \\[\\begin{aligned}a&=b\\\\c&=d\\end{aligned}\\]\n"
    shown = render_markdown(readable_markdown(draft))
    assert "a*b*c + x_(ab)" in shown
    assert "\\[\\begin{aligned}a&=b\\\\c&=d\\end{aligned}\\]" in shown
    assert readable_markdown("$$x```y$$") == "\n\n````\nx```y\n````\n\n"  # a fence longer than any inside


def test_markdown_outside_maths_is_left_to_markdown():
    assert readable_markdown("**bold** 100% _x_ $y^2$") == "**bold** 100% _x_ y²"


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        (r"\frac{1}{2}", "1/2"),
        ("42", "42"),
        (r"$\frac{1}{2}$", "1/2"),
        (r"\sqrt{2}", "√2"),
        (r"3\sqrt{2}", "3√2"),
        (r"\boxed{5}", "[5]"),
        (r"x = 3 \text{ or } x = -3", "x = 3 or x = -3"),
        (r"(-\infty, 2]", "(-∞, 2]"),
        ("(A)", "(A)"),
        (r"\begin{pmatrix}1\\2\end{pmatrix}", r"\begin{pmatrix}1\\2\end{pmatrix}"),
        ("  12  ", "12"),
    ],
)
def test_answer_fields(answer, shown):
    assert readable_answer(answer) == shown


def test_math_to_unicode_returns_the_source_when_raw():
    assert math_to_unicode(r"\begin{matrix}1\end{matrix}") == r"\begin{matrix}1\end{matrix}"


async def test_answer_fields_on_screen_are_rendered_as_maths(tmp_path):
    """The reference answer and the answer check's compared answers read as maths, not raw LaTeX."""
    from tui_data import record, settle

    from rel_core.config import Settings
    from rel_core.store import Store
    from rel_tui.app import ReviewApp

    item = record(1, draft="So the answer is <ANSWER>\\frac{1}{2}</ANSWER>")
    item.problem.reference_answer = "\\frac{1}{2}"
    item.attempts[-1].final_answer = "\\frac{1}{2}"
    db = tmp_path / "rel.db"
    with Store(db) as store:
        store.import_records([item])
    app = ReviewApp(db, Settings(), "tester")
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        shown = str(app.screen.query_one("#reference-answer").render())
        assert "1/2" in shown and "frac" not in shown
        critic = " ".join(str(w.render()) for w in app.screen.query("CriticPane Static"))
        assert "compared 1/2 with the reference 1/2" in critic, critic
