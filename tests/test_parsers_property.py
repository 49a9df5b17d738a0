"""Property-based tests for every text parser in rel_core, on adversarial inputs up to ~200 kB.

Inputs are built from runs of the characters and constructs that made the old parsers quadratic
or worse (spaces, dashes, newlines, backslashes, braces, pipes, repeated <ANSWER> tags, unclosed
\\boxed{, code fences and $, markdown tables), mixed with ordinary text. Each example has a
deadline that a quadratic parser on such an input blows through. Where a parser replaced a
regex, the old regex is kept here as an oracle on inputs small enough for it.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rel_core import answers, critic
from rel_core.importers import boxed, markdown, reasonset, tabular
from rel_core.importers.common import BadInput, FieldMap
from rel_core.models import Verdict

MAX_CHARS = 200_000
ADVERSARIAL = settings(
    deadline=2000,  # ms per input; the parsers take ~10-50 ms at 200 kB, the old ones seconds to hours
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
ORACLE = settings(deadline=None, max_examples=200)

PIECES = [
    " ", "\t", "\n", "\r\n", "\n\n", "-", "---", "*", "_", "|", "\\", "\\\\", "{", "}", "$", "$$", "`", "```",
    "```json", "#", "### ", "<ANSWER>", "</ANSWER>", "<answer>", "\\boxed{", "\\fbox{", "\\boxed {", "\\{", "\\}",
    "\\[", "\\(", "|-----|-----|\n", "| 1 | 2 |\n", "|:---:|", "### Question:", "### Answer:", "### Actual Solution:",
    "### Reference Answer:", "Options:", "Options:\n", "(A) 16\n", "(B) 2\n", "CORRECT:", "CORRECT: Yes", " No",
    "ERROR_STEP: 3\n", "ERROR_DESCRIPTION:", '{"verdict": "incorrect", "first_error_step": 2}', '"', ":",
    "The answer is ", "answer is", "42", ".", "...", "hmm", "wait", "\\frac", "\\n", "\\u00e9", "\\text{", "x", "A",
]  # fmt: skip
_piece = st.sampled_from(PIECES) | st.text(alphabet=string.printable, min_size=1, max_size=6)


def _joined(runs: list[tuple[str, int]], limit: int) -> str:
    return "".join(piece * count for piece, count in runs)[:limit]


small_texts = st.lists(st.tuples(_piece, st.integers(1, 4)), max_size=16).map(lambda runs: _joined(runs, 400))


FILLERS = (" ", "\n", "\t", "-", "|", "\\", "{", "\n\n", " \n")


def adversarial(*focus: str) -> st.SearchStrategy[str]:
    """Inputs up to MAX_CHARS of three shapes, using the parser's own `focus` constructs often:
    long runs of constructs; a short mixed unit (a table row, tags and boxes) repeated many times;
    and the classic blow-up shape, a construct, a long run of filler, then something that breaks it."""
    piece = st.sampled_from(focus) | _piece if focus else _piece
    long_count = st.sampled_from([20_000, 40_000]) | st.integers(2_000, 40_000)  # long enough to hurt
    run = st.tuples(piece, st.integers(1, 3) | long_count)
    runs = st.lists(run, max_size=24).map(lambda runs: _joined(runs, MAX_CHARS))
    units = st.lists(st.tuples(piece, st.integers(1, 4)), min_size=1, max_size=8).map(lambda runs: _joined(runs, 200))
    repeated = st.tuples(units, st.integers(100, 20_000)).map(lambda unit: (unit[0] * unit[1])[:MAX_CHARS])
    opener = st.sampled_from(focus) if focus else _piece
    filler = st.sampled_from(FILLERS) | st.sampled_from(focus or FILLERS)
    pumped = st.tuples(opener, filler, long_count, piece).map(lambda p: (p[0] + p[1] * p[2])[:MAX_CHARS] + p[3])
    return st.one_of(runs, repeated, pumped, pumped, pumped)  # the blow-up shape most often


BOXES = ("\\boxed{", "\\fbox{", "}", "\\{", "\\}", "{", "\\boxed ", "\\")
TAGS = ("<ANSWER>", "</ANSWER>", "<answer>x", "The answer is ", "\\boxed{")
CRITIC = ("```", "```json", "\n", " ", "{", "}", '"', "\\", "CORRECT", ":", "ERROR_STEP: ", "\\frac", "\\n")
MARKDOWN = ("-", "---", "|", "|-----|-----|\n", " ", "\n", "#", "# x", "*", "_", "### Answer:", "### Question:")
OPTIONS = ("\n", " \t\n", "Options", "Options:", ":", "(A) 16\n", " ")


def _markdown(text: str):
    try:
        return markdown.record_from_markdown(text, Path("t.md"), FieldMap())
    except BadInput as exc:
        assert "\n" not in exc.message
        return None


# -- never raise, stay linear, answer with part of the input ---------------------------------


@ADVERSARIAL
@given(adversarial(*BOXES))
def test_last_boxed_both_modes(text):
    draft = answers.last_boxed(text)
    reference = answers.last_boxed(text, skip_unclosed=True)
    for found in (draft, reference):
        assert found is None or (found in text and found == found.strip() and found)
    assert draft is None or draft == reference  # a closed last box is also the last closed box


@ADVERSARIAL
@given(adversarial(*TAGS, *BOXES))
def test_answer_tag_and_final_answer_are_taken_from_the_text(text):
    tagged = answers.answer_tag(text)
    assert tagged is None or tagged in text
    final = answers.extract_answer(text)
    assert final is None or (final in text and final.strip() == final)
    assert boxed.draft_final_answer(text) == final  # importers and the check read the same answer
    if tagged:
        assert final is not None


@ADVERSARIAL
@given(adversarial(*TAGS))
def test_demote_answer_tags_keeps_the_text_around_them(text):
    demoted = answers.demote_answer_tags(text)
    if answers.answer_tag(text) is None and "</answer>" not in text.lower():
        assert demoted == text


@ADVERSARIAL
@given(adversarial("(A)", "C) 42", " ", "."), adversarial(*OPTIONS))
def test_choice_letter_names_a_letter_or_an_option(answer, problem):
    letter = answers.choice_letter(answer)
    assert letter is None or letter in "ABCDEFGHIJ"
    option = answers.choice_letter(answer, problem)
    assert option is None or option in answers.options(problem)
    assert boxed.choice_letter(problem, answer) == option


@ADVERSARIAL
@given(adversarial(*CRITIC))
def test_parse_verdict_always_gives_a_verdict_and_keeps_the_raw_text(text):
    parsed = critic.parse_verdict(text)
    assert parsed.verdict in set(Verdict) and parsed.raw == text
    assert parsed.first_error_step is None or "\n" not in parsed.first_error_step or "{" in text


@ADVERSARIAL
@given(adversarial(*CRITIC))
def test_escape_latex_backslashes_gives_valid_json_strings(text):
    text = text.replace('"', "")
    escaped = critic.escape_latex_backslashes(text)
    assert escaped.replace("\\", "") == text.replace("\\", "")
    assert isinstance(json.loads(f'"{escaped}"', strict=False), str)


@ADVERSARIAL
@given(adversarial(*MARKDOWN))
def test_markdown_trace_splitting(text):
    markdown.looks_like_markdown(text)
    record = _markdown(text)
    if record is not None:
        assert record.problem.text in text
        for attempt in record.attempts:
            assert attempt.text in text


@ADVERSARIAL
@given(adversarial(*MARKDOWN), st.sampled_from(["### Question:\nq\n### Answer:\n", "### Question: ", "# Question\n"]))
def test_markdown_trace_with_a_question(text, head):
    record = _markdown(head + text)
    assert record is None or record.problem.text in head + text


@ADVERSARIAL
@given(adversarial(*BOXES, *OPTIONS))
def test_reasonset_and_tabular_answer_fields(text):
    found = reasonset.reference_answer(text, text)
    assert found is None or found in text or re.fullmatch(r"\([A-Z]\)", found)
    row = tabular.record_from_row({"problem": "p", "solution": text}, "t:1", "t", FieldMap())
    assert row.problem.reference_answer is None or row.problem.reference_answer in text


@ADVERSARIAL
@given(adversarial(*TAGS, "\\text{", "$", "\\(", " ", "\n", "hmm", "...", "."))
def test_quick_check_never_raises(text):
    checker = answers.AnswerChecker(workers=1)  # quick_check starts no worker process
    for reference in ("42", "(C)", "the set of primes"):
        result = checker.quick_check(text, reference)
        assert result is None or result.verdict in set(Verdict)


# -- the old regexes as oracles, on inputs small enough for them ------------------------------

_OLD_ANSWER_TAG = re.compile(r"<ANSWER>(.*?)</ANSWER>", re.DOTALL | re.IGNORECASE)
_OLD_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
# The old rule, with each rule alone on its line (dashes that end a line of text are text) and spaced.
_OLD_TRAILING_RULES = re.compile(r"(\s*(?<![^\n])[ \t]*(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,}))+\s*$")
_OLD_HEADING = re.compile(r"^#{1,6}[ \t]*(.+?)[ \t]*$", re.MULTILINE)
_OLD_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")


def _old_reference_boxed(text: str) -> str | None:
    for match in reversed(list(_OLD_BOXED.finditer(text))):
        depth, index = 1, match.end()
        while index < len(text):
            if text[index] == "\\":
                index += 2
                continue
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            if depth == 0:
                return text[match.end() : index].strip() or None
            index += 1
    return None


@ORACLE
@given(small_texts)
def test_reference_last_boxed_matches_the_old_importer_rule(text):
    assert answers.last_boxed(text, skip_unclosed=True) == _old_reference_boxed(text)


@ORACLE
@given(small_texts)
def test_answer_tags_match_the_old_regex(text):
    found = _OLD_ANSWER_TAG.findall(text)
    assert answers.answer_tag(text) == ((found[-1].strip() or None) if found else None)
    old = _OLD_ANSWER_TAG.sub(lambda m: f"(my answer at this point: {m.group(1).strip()})", text)
    assert answers.demote_answer_tags(text) == old


@ORACLE
@given(small_texts)
def test_fenced_blocks_match_the_old_regex(text):
    assert list(critic._fenced_blocks(text)) == [block.strip() for block in _OLD_FENCE.findall(text)]


@ORACLE
@given(small_texts.map(lambda text: text[:120]))
def test_trailing_rules_match_the_old_regex(text):
    assert markdown._without_trailing_rules(text) == _OLD_TRAILING_RULES.sub("", text)


@ORACLE
@given(small_texts)
def test_headings_match_the_old_regex(text):
    old = [
        (m.start(), m.start(1), m.group(1))
        for m in _OLD_HEADING.finditer(text)
        if m.group(1).strip(" \t") and m.group().strip("#")  # "##" alone: the old regex backtracked to heading "#"
    ]
    assert list(markdown._headings(text)) == old


def _old_escape_latex_backslashes(text: str) -> str:
    out, index = [], 0
    while index < len(text):
        if text[index] != "\\":
            out.append(text[index])
            index += 1
            continue
        following = text[index + 1 : index + 2]
        if following == "\\":
            out.append("\\\\")
            index += 2
            continue
        latex = critic._is_latex(text, index + 1) or following not in critic._JSON_ESCAPES
        out.append("\\\\" if latex else "\\")
        index += 1
    return "".join(out)


def _old_json_objects(text: str) -> list[str]:
    found, depth, start, in_string, escaped = [], 0, None, False, False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"' and depth:
            in_string = True
        elif char == "{":
            start = index if depth == 0 else start
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                found.append(text[start : index + 1])
    return found


@ORACLE
@given(small_texts)
def test_latex_escaping_and_json_objects_match_the_old_character_loops(text):
    assert critic.escape_latex_backslashes(text) == _old_escape_latex_backslashes(text)
    assert critic._json_candidates(text) == list(critic._fenced_blocks(text)) + _old_json_objects(text)
