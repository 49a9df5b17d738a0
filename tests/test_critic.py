"""Reading critic verdicts: JSON first, REL's markers second, unknown rather than a guess."""

from __future__ import annotations

import pytest

from rel_core.critic import parse_verdict
from rel_core.models import Verdict


@pytest.mark.parametrize(
    ("raw", "verdict", "step", "description"),
    [
        ('{"verdict": "incorrect", "first_error_step": 3, "error_description": "sign slip"}', Verdict.INCORRECT, "3", "sign slip"),
        ('{"verdict": "correct", "first_error_step": null, "error_description": ""}', Verdict.CORRECT, None, None),
        ('Sure!\n```json\n{"verdict": "Incorrect", "first_error_step": "2", "error_description": "lost a root"}\n```\nHope it helps.', Verdict.INCORRECT, "2", "lost a root"),
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
        ("Let me look.\n\n- **Correct**: no.\n- **Error step**: 5\n- **Error description**: dropped the minus sign", Verdict.INCORRECT, "5"),
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
