"""Finding final answers and checking them against the reference with math-verify."""

from __future__ import annotations

import threading

import pytest

from rel_core.answers import AnswerChecker, demote_answer_tags, extract_answer, last_boxed
from rel_core.models import Verdict


@pytest.fixture(scope="module")
def checker():
    checker = AnswerChecker(workers=1)
    yield checker
    checker.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("So x = 3.\n<ANSWER>3</ANSWER>", "3"),
        ("first <ANSWER>1</ANSWER> then, fixing it, <ANSWER> 2 </ANSWER>", "2"),
        ("hence $\\boxed{\\frac{1}{2}}$ and that is it", "\\frac{1}{2}"),
        ("\\boxed{1} no wait \\boxed{\\sqrt{\\frac{a}{b}}}", "\\sqrt{\\frac{a}{b}}"),
        ("Working...\nThe answer is 42.\nDone.", "42"),
        ("**Final answer is:** $x = 5$", "$x = 5$"),
        ("<answer>7</answer>", "7"),
        ("no answer here", None),
        ("cut off \\boxed{\\frac{1}{", None),
        ("<ANSWER></ANSWER> but \\boxed{9}", "9"),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


LONG_WORK = "\n".join(f"Step {n}: 5 x {n} = {5 * n}." for n in range(1, 30))


@pytest.mark.parametrize(
    "text",
    [
        # stated mid-trace, then the trace goes on and is cut off
        pytest.param(LONG_WORK + "\nSo the answer is 50.\nLet me verify: 5 x 10 = 50, and the width is", id="verify-next-line"),
        pytest.param(LONG_WORK + "\nSo the answer is 50. Let me verify\u2026", id="verify-same-line"),
        pytest.param("So the answer is 50.\nWait, I dropped the border.\nThe border adds", id="wait"),
        pytest.param("The answer is 50.\nHmm, but the units...", id="hmm-ellipsis"),
        # stated early in a trace that then carries on
        pytest.param("First guess: the answer is 50.\n" + LONG_WORK, id="early-many-lines"),
        pytest.param("So the answer is 50.\n\n" + "Now the second part asks for the area, " * 10, id="early-long-line"),
    ],
)
def test_answer_is_mid_trace_is_not_the_final_answer(text):
    assert extract_answer(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(LONG_WORK + "\nSo the answer is 50.", "50", id="last-line"),
        pytest.param(LONG_WORK + "\nSo the answer is 50.\n\nHope this helps!", "50", id="sign-off"),
        pytest.param(LONG_WORK + "\nThe answer is 50. Done.", "50", id="sign-off-same-line"),
        pytest.param("So the answer is 50.\nNo wait, the answer is 52.\nDone.", "52", id="corrected"),
        pytest.param("The answer is 50. Let me verify.\n<ANSWER>50</ANSWER>", "50", id="tag"),
        pytest.param("So \\boxed{50}. Let me verify the area again, but", "50", id="boxed"),
    ],
)
def test_answer_is_at_the_end_is_the_final_answer(text, expected):
    assert extract_answer(text) == expected


def test_last_boxed_handles_nested_braces():
    assert last_boxed("\\boxed{\\{1, \\{2\\}\\}}") == "\\{1, \\{2\\}\\}"


def test_demoted_tags_leave_one_answer_for_the_continuation():
    trace = demote_answer_tags("...so <ANSWER>5</ANSWER>") + "\nWait, no. <ANSWER>6</ANSWER>"
    assert extract_answer(trace) == "6"
    assert "5" in trace


@pytest.mark.parametrize(
    ("answer", "reference", "verdict"),
    [
        ("0.5", "\\frac{1}{2}", Verdict.CORRECT),
        ("\\frac{1}{2}", "1/2", Verdict.CORRECT),
        ("x = 2", "2", Verdict.CORRECT),
        ("2\\sqrt{2}", "\\sqrt{8}", Verdict.CORRECT),
        ("\\{2, 1\\}", "\\{1,2\\}", Verdict.CORRECT),
        ("7", "8", Verdict.INCORRECT),
        ("-3", "3", Verdict.INCORRECT),
        ("(C)", "C", Verdict.CORRECT),
        ("C) 42", "(C)", Verdict.CORRECT),
        ("B", "C", Verdict.INCORRECT),
    ],
)
async def test_decisive_checks(checker, answer, reference, verdict):
    result = await checker.check(f"work...\n<ANSWER>{answer}</ANSWER>", reference)
    assert (result.verdict, result.decisive) == (verdict, True), result.reason


@pytest.mark.parametrize(
    ("text", "reference"),
    [
        ("<ANSWER>the mitochondria</ANSWER>", "Mitochondria, because they make ATP"),  # free-text reference
        ("<ANSWER>because the pressure drops</ANSWER>", "4"),  # free-text answer
        ("I could not finish.", "4"),  # no answer found
        ("<ANSWER>4</ANSWER>", None),  # nothing to check against
        ("<ANSWER>I think it is B</ANSWER>", "B"),  # option not named plainly
    ],
)
async def test_not_machine_checkable_goes_to_the_critic(checker, text, reference):
    result = await checker.check(text, reference)
    assert result.verdict == Verdict.UNKNOWN and not result.decisive


async def test_exact_match_is_decisive_even_for_free_text(checker):
    result = await checker.check("<ANSWER>East</ANSWER>", "east")
    assert (result.verdict, result.decisive) == (Verdict.CORRECT, True)


def test_check_works_off_the_main_thread(checker):
    """math-verify's SIGALRM breaks in threads; the checker's workers keep it on a main thread."""
    import asyncio

    results = []
    thread = threading.Thread(target=lambda: results.append(asyncio.run(checker.check("<ANSWER>0.25</ANSWER>", "\\frac14"))))
    thread.start()
    thread.join(60)
    assert results and results[0].verdict == Verdict.CORRECT and results[0].decisive


async def test_a_stuck_worker_is_killed_and_replaced():
    checker = AnswerChecker(workers=1, timeout=0.01)
    checker.warm()
    try:
        checker._workers[0].answered = 1  # skip the start-up allowance, so the tiny deadline bites
        slow = await checker.check("<ANSWER>x^2+1</ANSWER>", "(x+1)^2 - 2x")
        assert slow.verdict == Verdict.UNKNOWN and "in time" in slow.reason
        checker.timeout = 60
        again = await checker.check("<ANSWER>3</ANSWER>", "4")
        assert again.verdict == Verdict.INCORRECT
    finally:
        checker.close()
