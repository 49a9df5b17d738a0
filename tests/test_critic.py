"""Reading critic verdicts: JSON first, REL's markers second, unknown rather than a guess."""

from __future__ import annotations

import pytest

from rel_core.critic import parse_verdict
from rel_core.models import Verdict


@pytest.mark.parametrize(
    ("raw", "verdict", "step", "description"),
    [
        (
            '{"verdict": "incorrect", "first_error_step": 3, "error_description": "sign slip"}',
            Verdict.INCORRECT,
            "3",
            "sign slip",
        ),
        ('{"verdict": "correct", "first_error_step": null, "error_description": ""}', Verdict.CORRECT, None, None),
        (
            'Sure!\n```json\n{"verdict": "Incorrect", "first_error_step": "2", "error_description": "lost a root"}\n```\nHope it helps.',
            Verdict.INCORRECT,
            "2",
            "lost a root",
        ),
        ('My verdict: {"Verdict": "CORRECT", "First_Error_Step": "N/A"} end', Verdict.CORRECT, None, None),
        ('{"verdict": false, "first_error_step": 4, "error_description": "x"}', Verdict.INCORRECT, "4", "x"),
    ],
)
def test_json_verdicts(raw, verdict, step, description):
    parsed = parse_verdict(raw)
    assert (parsed.verdict, parsed.first_error_step, parsed.error_description) == (verdict, step, description)
    assert parsed.raw == raw


@pytest.mark.parametrize(
    ("raw", "verdict", "step"),
    [
        ("CORRECT: No\nERROR_STEP: 2\nERROR_DESCRIPTION: The discriminant is wrong.", Verdict.INCORRECT, "2"),
        ("**CORRECT:** Yes\n**ERROR_STEP:** N/A\n**ERROR_DESCRIPTION:** N/A", Verdict.CORRECT, None),
        ("correct: [Yes]\nerror_step: n/a", Verdict.CORRECT, None),
        (
            "Let me look.\n\n- **Correct**: no.\n- **Error step**: 5\n- **Error description**: dropped the minus sign",
            Verdict.INCORRECT,
            "5",
        ),
        ("CORRECT: [No]\nERROR_STEP: [3]\nERROR_DESCRIPTION: [Forgot the case x < 0]", Verdict.INCORRECT, "3"),
    ],
)
def test_rel_marker_verdicts(raw, verdict, step):
    parsed = parse_verdict(raw)
    assert (parsed.verdict, parsed.first_error_step) == (verdict, step)


def test_marker_description_spans_lines_and_stops_at_the_next_marker():
    raw = "CORRECT: No\nERROR_DESCRIPTION: You divided by x,\nwhich may be zero.\nERROR_STEP: 4\n"
    parsed = parse_verdict(raw)
    assert parsed.error_description == "You divided by x,\nwhich may be zero."
    assert parsed.first_error_step == "4"


@pytest.mark.parametrize(
    "raw",
    [
        "INACCURATE",  # REL's substring check would have read this as ACCURATE
        "The solution is mostly accurate.",
        "",
        None,
        '{"verdict": "maybe"}',
        "CORRECT: perhaps",
        "{not json at all",
    ],
)
def test_garbage_is_unknown_and_kept(raw):
    parsed = parse_verdict(raw)
    assert parsed.verdict == Verdict.UNKNOWN
    assert parsed.raw == (raw or "")


def test_json_wins_over_markers_in_the_same_reply():
    raw = 'CORRECT: Yes\n{"verdict": "incorrect", "first_error_step": 1, "error_description": "no"}'
    assert parse_verdict(raw).verdict == Verdict.INCORRECT


# -- LaTeX inside the JSON ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description_as_written", "description"),
    [
        (r"Check \sqrt{x^2} = |x|.", r"Check \sqrt{x^2} = |x|."),  # invalid JSON escape: json.loads failed
        (r"The angle \theta is not 2\pi.", r"The angle \theta is not 2\pi."),  # \t: was a tab + "heta"
        (r"Simplify \frac{a}{b} first.", r"Simplify \frac{a}{b} first."),  # \f: was a form feed + "rac"
        (r"\beta is not \alpha.", r"\beta is not \alpha."),  # \b: was a backspace
        (r"Take \nabla f, then \neq 0.", r"Take \nabla f, then \neq 0."),  # \n: was a newline + "abla"
        (r"\left( x \right) \times \text{m} \underline{y}", r"\left( x \right) \times \text{m} \underline{y}"),
        (r"Already escaped: \\frac{1}{2} and \\sqrt{2}.", r"Already escaped: \frac{1}{2} and \sqrt{2}."),
        (r"Step 2.\n3 is wrong:\t\"x/2\"\/4.", 'Step 2.\n3 is wrong:\t"x/2"/4.'),  # real escapes
        (r"First line.\nThe next line says caf\u00e9.", "First line.\nThe next line says caf\u00e9."),
        (r"Mixed: \nabla g\nThen \\beta\n\n\sqrt{3}", "Mixed: \\nabla g\nThen \\beta\n\n\\sqrt{3}"),
        (r"The set \{1, 2\} misses 3.", r"The set \{1, 2\} misses 3."),
    ],
)
def test_latex_backslashes_in_json_strings(description_as_written, description):
    raw = '{"verdict": "incorrect", "first_error_step": 2, "error_description": "' + description_as_written + '"}'
    parsed = parse_verdict(raw)
    assert (parsed.verdict, parsed.first_error_step, parsed.error_description) == (Verdict.INCORRECT, "2", description)


def test_latex_in_fenced_json_and_unbalanced_braces_in_strings():
    fenced = 'Here:\n```json\n{"verdict": "correct", "error_description": "\\frac{1}{2} = 0.5"}\n```'
    assert parse_verdict(fenced).verdict == Verdict.CORRECT
    assert parse_verdict(fenced).error_description == r"\frac{1}{2} = 0.5"
    bare = r'Result: {"verdict": "incorrect", "first_error_step": 1, "error_description": "\left\{ x > 0 \right. drops x = 0"}'
    parsed = parse_verdict(bare)
    assert (parsed.verdict, parsed.error_description) == (Verdict.INCORRECT, r"\left\{ x > 0 \right. drops x = 0")


def test_raw_newline_inside_a_json_string_still_parses():
    raw = '{"verdict": "incorrect", "first_error_step": 3, "error_description": "line one\nline two"}'
    assert parse_verdict(raw).error_description == "line one\nline two"


def test_critic_prompt_asks_for_escaped_backslashes():
    from rel_core.prompts import Templates

    text = Templates()["critic"].text
    assert "backslash" in text and r"\\frac{1}{2}" in text


# -- more marker shapes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "verdict", "step", "description"),
    [
        ("1. CORRECT: No\n2. ERROR_STEP: 3\n3. ERROR_DESCRIPTION: sign slip", Verdict.INCORRECT, "3", "sign slip"),
        ("1) **Correct:** yes\n2) **Error step:** N/A", Verdict.CORRECT, None, None),
        ("I checked every step.\nVerdict: incorrect\nERROR_STEP: 4", Verdict.INCORRECT, "4", None),
        ("verdict: correct", Verdict.CORRECT, None, None),
        ("**Final verdict:** Incorrect.", Verdict.INCORRECT, None, None),
        ("Verdict: INACCURATE", Verdict.INCORRECT, None, None),  # never read as ACCURATE
        ("CORRECT: inaccurate", Verdict.INCORRECT, None, None),
        ("Verdict: accurate", Verdict.CORRECT, None, None),
        ("CORRECT: not correct", Verdict.INCORRECT, None, None),
        ("Correct: let me check the algebra first.\nVerdict: [No]", Verdict.INCORRECT, None, None),
    ],
)
def test_more_marker_shapes(raw, verdict, step, description):
    parsed = parse_verdict(raw)
    assert (parsed.verdict, parsed.first_error_step, parsed.error_description) == (verdict, step, description)


@pytest.mark.parametrize("raw", ["Verdict: perhaps", "My verdict is INACCURATE", "Step 1. Verdict pending"])
def test_unclear_verdict_lines_stay_unknown(raw):
    assert parse_verdict(raw).verdict == Verdict.UNKNOWN
