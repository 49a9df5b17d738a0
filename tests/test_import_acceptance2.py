"""Import findings of acceptance pass 2: several questions in one markdown file, a second reference
answer for a problem already present, dashes that end a question line, and CSV headers that would
be misread (a column named twice, `;` as the delimiter).

Every test imports into a real SQLite file through `rel-tui import`, or checks a parser directly
with hypothesis and a deadline per input.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rel_core.importers import markdown
from rel_core.importers.common import BadInput, FieldMap
from rel_core.store import Store


def run_import(tmp_path: Path, *args: str | Path) -> subprocess.CompletedProcess:
    """`rel-tui --db tmp/rel.db import ARGS` in a subprocess, with no REL_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("REL_")}
    db = tmp_path / "rel.db"
    if not db.exists():
        Store(db).close()  # made first, so stderr is the import's report alone
    return subprocess.run(
        [sys.executable, "-m", "rel_tui", "--db", str(db), "import", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def rows(tmp_path: Path, query: str) -> list[tuple]:
    with Store(tmp_path / "rel.db") as store:
        return [tuple(row) for row in store.conn.execute(query)]


# -- §4: each "### Question:" is a problem of its own ------------------------------------------

TWO_QUESTIONS = (
    "### Question:\nWhat is 3+3?\n\n### Answer:\nSix, so \\boxed{6}.\n\n"
    "### Question:\nWhat is 5+5?\n\n### Answer:\nTen, so \\boxed{10}.\n"
)


def test_two_questions_in_one_markdown_file_are_two_problems(tmp_path):
    (tmp_path / "multi2.md").write_text(TWO_QUESTIONS)
    result = run_import(tmp_path, tmp_path / "multi2.md")
    assert result.returncode == 0, result.stderr
    assert "2 problems added" in result.stdout and "2 attempts added" in result.stdout
    found = rows(
        tmp_path, "select p.text, a.final_answer, a.text from problems p join attempts a on a.problem_id = p.id order by p.id"
    )
    assert [(text, answer) for text, answer, _ in found] == [("What is 3+3?", "6"), ("What is 5+5?", "10")]
    assert "Question" not in found[0][2]  # the first draft stops where the second question starts


def test_an_empty_question_costs_only_itself_and_names_its_line(tmp_path):
    path = tmp_path / "three.md"
    path.write_text("### Question:\nOne?\n### Answer:\n1\n### Question:\n\n### Answer:\nx\n### Question:\nThree?\n")
    result = run_import(tmp_path, path)
    assert result.returncode == 1
    assert result.stderr.strip() == f'{path}:5: the "### Question:" section is empty'
    assert rows(tmp_path, "select text, state from problems order by id") == [("One?", "awaiting_review"), ("Three?", "pending")]


def test_text_before_the_first_question_and_references_stay_with_their_problem(tmp_path):
    path = tmp_path / "refs.md"
    path.write_text(
        "# Notes from week 3\n\n### Question:\nA?\n### Answer:\ndraft a\n### Reference Answer:\n\\boxed{7}\n"
        "### Question:\nB?\n### Answer:\ndraft b\n"
    )
    assert run_import(tmp_path, path).returncode == 0
    assert rows(tmp_path, "select text, reference_answer from problems order by id") == [("A?", "7"), ("B?", None)]


# -- §10: dashes that end a line of text are text ----------------------------------------------


@pytest.mark.parametrize(
    ("question", "stored"),
    [
        ("Trailing dashes ----", "Trailing dashes ----"),
        ("Long run " + "-" * 200_000, "Long run " + "-" * 200_000),
        ("Ends with a rule\n\n---\n", "Ends with a rule"),
        ("Two rules\n***\n - - -\n\n___", "Two rules"),
        ("Dashes then a rule ---\n----", "Dashes then a rule ---"),
    ],
    ids=["dashes", "long-run", "rule", "rules", "dashes-then-rule"],  # short: the id goes into the environment
)
def test_only_a_line_of_rule_characters_is_dropped_from_the_end(tmp_path, question, stored):
    path = tmp_path / "q.md"
    path.write_text(f"### Question:\n{question}\n### Answer:\nfine\n")
    assert run_import(tmp_path, path).returncode == 0
    assert rows(tmp_path, "select text from problems") == [(stored,)]


def _reference_trailing_rules(text: str) -> str:
    """The rule, line by line: drop trailing lines of 3+ of one of -*_ (spaces allowed), and the space before."""
    lines = text.rstrip().split("\n")
    dropped = False
    while lines:
        marks = lines[-1].rstrip().replace(" ", "").replace("\t", "")
        if not (len(marks) >= 3 and marks[0] in "-*_" and set(marks) == {marks[0]}):
            break
        lines.pop()
        dropped = True
        while lines and not lines[-1].strip():
            lines.pop()
    return "\n".join(lines).rstrip() if dropped else text


RULE_PIECES = st.sampled_from(["-", "---", "*", "***", "_", " ", "\t", "\n", "\n\n", "x", "a b", "|", "- - -"])
rule_texts = st.lists(st.tuples(RULE_PIECES, st.integers(1, 4)), max_size=20).map(lambda runs: "".join(p * n for p, n in runs))


@settings(max_examples=300, deadline=None)
@given(rule_texts)
def test_trailing_rules_match_the_line_by_line_rule(text):
    assert markdown._without_trailing_rules(text).strip() == _reference_trailing_rules(text).strip()


DEADLINE = settings(
    deadline=3000,  # ms per input: the parser takes milliseconds at 200 kB; a quadratic one, minutes
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
MARKDOWN_PIECES = ("-", "---", " ", "\n", "#", "### Question:", "### Answer:", "### Question:\nq\n", "x", "\\boxed{1}")


@DEADLINE
@given(st.lists(st.tuples(st.sampled_from(MARKDOWN_PIECES), st.integers(1, 40_000)), min_size=1, max_size=6))
def test_markdown_stays_linear_on_long_runs(runs):
    text = "".join(piece * count for piece, count in runs)[:200_000]
    for found in markdown.records_from_markdown(text, Path("t.md"), FieldMap()):
        assert isinstance(found, BadInput) or found.problem.text.strip()


@DEADLINE
@given(
    st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="#"), max_size=50), min_size=1, max_size=30)
)
def test_every_question_heading_gives_one_record_in_order(questions):
    blocks = [f"### Question:\n{q}\n### Answer:\ndraft {i}\n" for i, q in enumerate(questions)]
    heading_lines = [1 + sum(block.count("\n") for block in blocks[:index]) for index in range(len(blocks))]
    found = list(markdown.records_from_markdown("".join(blocks), Path("t.md"), FieldMap()))
    assert len(found) == len(questions)
    for index, (item, line) in enumerate(zip(found, heading_lines, strict=True)):
        if isinstance(item, BadInput):
            assert item.line == line and "\n" not in item.message
        else:
            assert item.origin == f"t.md:{line}" and item.attempts[0].text == f"draft {index}"


# -- §5: a different reference answer for a problem already present is said, not overwritten -----


def test_a_reimport_with_another_reference_answer_keeps_the_stored_one_and_says_so(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"problem":"What is 6 x 7?","answer":"42"}\n')
    (tmp_path / "b.jsonl").write_text('{"problem":"What is 6 x 7?","answer":"41","draft":"I think \\\\boxed{41}"}\n')
    assert run_import(tmp_path, tmp_path / "a.jsonl").returncode == 0
    result = run_import(tmp_path, tmp_path / "b.jsonl", "--draft-field", "draft")
    assert result.returncode == 0
    assert result.stderr.strip() == (
        f"Warning: {tmp_path / 'b.jsonl'}:1: already present as #1 with reference answer 42, this row says 41; kept 42"
    )
    assert result.stdout.strip() == (
        "Read 1 file: 0 problems added, 1 already present (1 with another reference answer, kept as stored), "
        "1 attempts added, 0 skipped."
    )
    assert rows(tmp_path, "select reference_answer from problems") == [("42",)]


def test_duplicates_inside_one_file_are_said_one_line_each(tmp_path):
    lines = [
        {"problem": "Dup problem", "answer": "1"},
        {"problem": "Dup problem", "answer": "2"},
        {"problem": "Dup problem ", "answer": " 1 "},  # the same answer, spaced: no warning
        {"problem": "Other", "answer": "x = 2"},
        {"problem": "Other", "answer": "x=2"},
        {"problem": "Other"},  # no answer given: nothing to compare
        {"problem": "No answer first"},
        {"problem": "No answer first", "answer": "9"},
    ]
    path = tmp_path / "dup.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = run_import(tmp_path, path)
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        f"Warning: {path}:2: already present as #1 with reference answer 1, this row says 2; kept 1",
        f"Warning: {path}:8: already present as #3 without a reference answer, this row says 9; kept none",
    ]
    assert "3 problems added, 5 already present (2 with another reference answer, kept as stored)" in result.stdout
    assert rows(tmp_path, "select reference_answer from problems order by id") == [("1",), ("x = 2",), (None,)]


def test_a_conflict_is_said_under_strict_too_and_the_same_file_again_says_nothing(tmp_path):
    path = tmp_path / "dup.jsonl"
    path.write_text('{"problem":"P","answer":"1"}\n{"problem":"P","answer":"2"}\n')
    first = run_import(tmp_path, "--strict", path)
    assert first.returncode == 0 and first.stderr.count("already present as #1") == 1
    again = run_import(tmp_path, path)
    assert again.stderr.count("already present as #1") == 1  # row 2 only: row 1 agrees with what is stored


# -- §10: CSV headers that would be misread are refused with one line ---------------------------


def test_a_csv_column_named_twice_is_refused_naming_it(tmp_path):
    path = tmp_path / "twice.csv"
    path.write_text("problem,answer,problem\nWhat is 1+1?,2,Something else\n")
    result = run_import(tmp_path, path)
    assert result.returncode == 1
    assert result.stderr.strip() == f'{path}:1: the header names column "problem" 2 times (columns 1, 3); rename all but one'
    assert rows(tmp_path, "select count(*) from problems") == [(0,)]


def test_blank_column_names_may_repeat(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("problem,answer,,\nWhat is 1+1?,2,,\n")
    assert run_import(tmp_path, path).returncode == 0
    assert rows(tmp_path, "select text, reference_answer from problems") == [("What is 1+1?", "2")]


def test_a_semicolon_separated_csv_gets_one_line_that_says_so(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("problem;answer\nWhat is 1+1?;2\nWhat is 2+2?;4\n")
    result = run_import(tmp_path, path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"{path}:1: the header looks ';'-separated; only comma- or tab-separated files are read (save it with commas)"
    )
