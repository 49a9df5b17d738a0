"""The in-process check of plain integers gives math-verify's verdict, and leaves everything else to it."""

from __future__ import annotations

import pytest

from rel_core.answers import math_verify_in_worker
from rel_core.checking import PlainNumberChecker, plain_integer_verdict
from rel_core.models import Verdict

# (reference, answer): signs, leading zeros, zero, large values, delimiters, near misses.
INTEGER_PAIRS = [
    ("12", "13"),
    ("12", "012"),
    ("0", "-0"),
    ("5", "+5"),
    ("5", "-5"),
    ("1000000", "1000001"),
    ("999999999999999", "999999999999999"),
    ("999999999999999", "999999999999998"),
    ("42", "$42$"),
    ("42", "\\(42\\)"),
    ("-7", "-7"),
    ("-7", "7"),
    ("100", "10"),
    ("3", "33"),
]
# Left to math-verify: it rounds decimals, reads thousands separators, and refuses "2.".
NOT_PLAIN = [
    ("0.1234567", "0.1234568"),
    ("1", "1.0"),
    ("1000", "1,000"),
    ("2", "2."),
    ("1/2", "0.5"),
    ("1e3", "1000"),
    ("12345678901234567890", "12345678901234567891"),
    ("x", "1"),
    ("2", "2 + 0"),
]


def math_verify_verdict(reference: str, answer: str) -> Verdict:
    gold_ok, answer_ok, equal = math_verify_in_worker(reference, answer)
    assert gold_ok and answer_ok
    return Verdict.CORRECT if equal else Verdict.INCORRECT


@pytest.mark.parametrize(("reference", "answer"), INTEGER_PAIRS)
def test_plain_integers_get_math_verifys_verdict(reference, answer):
    fast = plain_integer_verdict(reference, answer)
    assert fast is not None and fast.decisive
    assert fast.verdict == math_verify_verdict(reference, answer)


@pytest.mark.parametrize(("reference", "answer"), NOT_PLAIN)
def test_anything_but_plain_integers_is_left_to_math_verify(reference, answer):
    assert plain_integer_verdict(reference, answer) is None


async def test_the_checker_decides_integers_without_starting_a_worker_and_asks_math_verify_otherwise():
    checker = PlainNumberChecker()
    try:
        wrong = await checker.check("so <ANSWER>41</ANSWER>", "42")
        right = checker.quick_check("so <ANSWER>+42</ANSWER>", "42")
        assert (wrong.verdict, right.verdict) == (Verdict.INCORRECT, Verdict.CORRECT)
        assert all(worker.process is None for worker in checker._workers), "no math-verify worker for integers"
        fraction = await checker.check("so <ANSWER>0.5</ANSWER>", "\\frac{1}{2}")
        assert fraction.verdict == Verdict.CORRECT and fraction.decisive
        assert checker.quick_check("so <ANSWER>0.5</ANSWER>", "\\frac{1}{2}") is None
    finally:
        checker.close()
