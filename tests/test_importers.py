"""Importers: REL/ReasonSet JSON, markdown traces, JSONL/JSON/CSV, bad input, the bundled set."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from rel_core import bundled
from rel_core.importers import FieldMap, detect_format, import_paths, read_paths
from rel_core.importers.boxed import choice_answer, choice_letter, draft_final_answer, last_boxed
from rel_core.importers.common import SQLITE_MAX_INTEGER, flag, unrepr, whole_number
from rel_core.models import AttemptKind, CritiqueSource, ProblemState, Verdict
from rel_core.store import Store, verified

FIXTURES = Path(__file__).parent / "fixtures"
REASONSET = FIXTURES / "reasonset"
MARKDOWN = FIXTURES / "markdown"
TABULAR = FIXTURES / "tabular"

SYSTEM_OF_EQUATIONS = "Solve $x + y = 8$ and $x - y = 4$ for $x$."


def by_name(records):
    return {Path(r.origin.rsplit(":", 1)[0]).name: r for r in records}


# -- answers inside text ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        (r"so $x = \boxed{6}$.", "6"),
        (r"first \boxed{1}, then \boxed{\frac{5}{6}}", r"\frac{5}{6}"),
        (r"\boxed{\left( \frac{11}{5}, \frac{2}{5}, 5 \right)}", r"\left( \frac{11}{5}, \frac{2}{5}, 5 \right)"),
        (r"\boxed{\{1, 2\}}", r"\{1, 2\}"),
        (r"\fbox{7}", "7"),
        (r"\boxed {[4,\infty)}", r"[4,\infty)"),
        (r"unclosed \boxed{\frac{1}{2}", None),
        ("no box at all", None),
        (None, None),
    ],
)
def test_last_boxed_handles_nested_braces(text, expected):
    assert last_boxed(text) == expected


def test_draft_final_answer_prefers_boxed_then_answer_tag():
    assert draft_final_answer(r"<ANSWER>\boxed{12}</ANSWER>") == "12"
    assert draft_final_answer("So it is twelve.\n<ANSWER>12</ANSWER>") == "12"
    assert draft_final_answer("no answer here") is None


MC = "Question: Pick one.\n\nOptions:\n(A) 16\n(B) 2\n(C) 160\n(D) I and II\n"


@pytest.mark.parametrize(
    "reference, letter",
    [
        ("16\n\nthis is an aldol reaction", "A"),
        ("160 because ...", "C"),  # "16" must not match the start of "160"
        ("I and II\n\nexplanation", "D"),
        ("  2 ", "B"),
        ("Something else entirely", None),
        ("", None),
    ],
)
def test_choice_letter_matches_leading_text_to_an_option(reference, letter):
    assert choice_letter(MC, reference) == letter


def test_choice_letter_is_none_when_ambiguous_or_not_multiple_choice():
    twins = "Options:\n(A) same\n(B) same\n"
    assert choice_letter(twins, "same") is None
    assert choice_letter("What is 2+2?", "4") is None
    assert choice_answer(MC, "2") == "(B)"


def test_rel_value_coercion():
    assert unrepr("''") == ""
    assert unrepr("'Alright, let\\'s go.\\nNext line'") == "Alright, let's go.\nNext line"
    assert unrepr('"quoted"') == "quoted"
    assert unrepr("None") is None
    assert unrepr("'not a literal") == "'not a literal"
    assert unrepr('"He said" and "she said"') == '"He said" and "she said"'
    assert [flag(v) for v in (True, "True", "false", "1", 0, "maybe", None)] == [
        True,
        True,
        False,
        True,
        False,
        None,
        None,
    ]
    assert [whole_number(v) for v in (2, "3", "'1'", "x", None, True)] == [2, 3, 1, 0, 0, 0]


# -- ReasonSet ---------------------------------------------------------------------------


def test_reasonset_folder_walked_recursively_through_spaces_and_parentheses():
    result = read_paths([REASONSET])
    assert result.errors == []
    assert result.files == 5
    assert set(by_name(result.records)) == {f"synthetic_{i}.json" for i in range(1, 6)}


def test_reasonset_object_solution_with_repr_strings_and_string_booleans():
    record = by_name(read_paths([REASONSET]).records)["synthetic_1.json"]
    problem, [attempt], [critique] = record.problem, record.attempts, record.critiques
    assert problem.text == SYSTEM_OF_EQUATIONS
    assert problem.reference_answer == "6"
    assert problem.reference_solution.startswith("Adding the equations")
    assert problem.source == "reasonset:algebra (part 1)"
    assert problem.state == ProblemState.AWAITING_REVIEW
    # final_solution was "''" (empty), so the draft is working_out, unwrapped from its repr()
    assert attempt.text.startswith("Let me think.") and "\nWait" in attempt.text
    assert attempt.kind == AttemptKind.IMPORTED
    assert attempt.iteration == 2
    assert attempt.final_answer == "6"
    assert critique.source == CritiqueSource.IMPORTED
    assert critique.verdict == Verdict.CORRECT


def test_reasonset_final_solution_wins_and_error_description_is_kept():
    record = by_name(read_paths([REASONSET]).records)["synthetic_3.json"]
    assert record.attempts[0].text == "Subtracting gives $2y = 4$, so $x = 4$."
    assert record.attempts[0].iteration == 3
    assert record.critiques[0].verdict == Verdict.INCORRECT
    assert record.critiques[0].error_description == "Solved for y, not x."


def test_reasonset_string_solution_and_nested_boxed_reference():
    record = by_name(read_paths([REASONSET]).records)["synthetic_2.json"]
    assert record.problem.reference_answer == r"\frac{5}{6}"
    assert record.attempts[0].text.startswith("First I find a common denominator")
    assert record.critiques == []


def test_reasonset_multiple_choice_reference_is_the_option_letter():
    record = by_name(read_paths([REASONSET]).records)["synthetic_4.json"]
    assert record.problem.reference_answer == "(C)"
    assert record.problem.source == "reasonset:gpqa"


def test_reasonset_placeholder_is_no_reference_and_its_verdict_unknown():
    record = by_name(read_paths([REASONSET]).records)["synthetic_5.json"]
    assert record.problem.reference_solution is None
    assert record.problem.reference_answer is None
    assert record.critiques[0].verdict == Verdict.UNKNOWN
    assert "placeholder" in record.critiques[0].raw
    assert record.attempts[0].text.startswith("Perhaps the Planck time")


def test_reasonset_import_into_store_then_again_adds_nothing(store):
    first = import_paths(store, [REASONSET])
    assert (first.summary.problems_added, first.summary.problems_existing, first.summary.attempts_added) == (4, 1, 5)
    assert first.errors == []
    again = import_paths(store, [REASONSET])
    assert (again.summary.problems_added, again.summary.problems_existing, again.summary.attempts_added) == (0, 5, 0)
    assert store.count_problems() == 4
    assert store.counts()[ProblemState.AWAITING_REVIEW] == 4
    [problem_id] = [i for i in store.iter_problem_ids() if store.get_problem(i).text == SYSTEM_OF_EQUATIONS]
    history = store.history(problem_id)
    assert len(history.attempts) == 2  # two drafts of one problem from two files
    for attempt in history.attempts:  # imported verdicts are never verification
        assert verified(history.critiques_for(attempt.id)) is None


def test_reasonset_export_shape_with_working_out_and_provided_solution(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"problem": "P1", "working_out": "draft", "provided_solution": r"so \boxed{3}"}]))
    [record] = read_paths([path]).records
    assert record.attempts[0].text == "draft"
    assert record.problem.reference_answer == "3"


# -- markdown ----------------------------------------------------------------------------


def test_markdown_trace_is_a_draft_not_a_reference():
    record = read_paths([MARKDOWN / "trace_plain.md"]).records[0]
    assert record.problem.text == "Five coins are tossed. What is the probability of exactly two heads?"
    assert record.problem.reference_answer is None
    assert record.problem.source == "markdown:markdown"
    [attempt] = record.attempts
    assert "### **Method 1: counting**" in attempt.text  # inner headings stay in the answer
    assert not attempt.text.endswith("---")
    assert attempt.final_answer == r"\frac{5}{16}"
    assert record.problem.state == ProblemState.AWAITING_REVIEW


def test_markdown_explicit_reference_section():
    record = read_paths([MARKDOWN / "trace_with_reference.md"]).records[0]
    assert record.problem.reference_answer == r"\left( \frac{11}{5}, \frac{2}{5}, 5 \right)"
    assert record.problem.reference_solution.startswith("Let $P = (1 + 3t")
    assert "Actual Solution" not in record.attempts[0].text
    assert record.attempts[0].text == "The closest point lies along the normal $(3,-4,5)$ from $A$."


@pytest.mark.parametrize(
    "content, message",
    [
        ("Just some notes.\n", 'no "### Question:" section'),
        ("### Question:\n\n### Answer:\nA long trace.\n", 'the "### Question:" section is empty'),
    ],
)
def test_markdown_without_a_question_is_reported(tmp_path, content, message):
    path = tmp_path / "trace.md"
    path.write_text(content)
    result = read_paths([path])
    assert result.records == []
    assert [str(e) for e in result.errors] == [f"{path}:1: {message}"]


def test_markdown_question_without_answer_is_a_pending_problem(tmp_path):
    path = tmp_path / "q.md"
    path.write_text("### Question:\nWhat is 1+1?\n")
    [record] = read_paths([path]).records
    assert record.attempts == [] and record.problem.state == ProblemState.PENDING


# -- JSONL, JSON, CSV --------------------------------------------------------------------


def test_jsonl_default_fields_math_style_and_blank_lines():
    result = read_paths([TABULAR / "math.jsonl"])
    assert result.errors == []
    first, second, third = result.records
    assert (first.problem.reference_answer, first.problem.subject, first.problem.level) == (
        "5",
        "Prealgebra",
        "Level 1",
    )
    assert first.attempts == [] and first.problem.state == ProblemState.PENDING
    assert (second.problem.text, second.problem.reference_answer, second.problem.level) == (
        r"Simplify $\sqrt{12}$.",
        r"2\sqrt{3}",
        "2",
    )
    assert third.origin.endswith("math.jsonl:4")
    assert third.problem.reference_answer == "4"
    assert third.attempts[0].text.startswith("Listing: 2, 3, 5, 7")
    assert third.problem.source == "jsonl:math"


def test_csv_and_json_array():
    csv_records = read_paths([TABULAR / "problems.csv"]).records
    assert [(r.problem.text, r.problem.reference_answer) for r in csv_records] == [
        ("What is 6 times 7?", "42"),
        ("A word, with a comma: what is 10 - 3?", "7"),
    ]
    array = read_paths([TABULAR / "array.json"]).records
    assert [r.problem.reference_answer for r in array] == ["81", "9"]
    assert array[1].origin.endswith("array.json:3")


def test_configurable_field_names_and_source():
    fields = FieldMap(problem=("prompt",), answer=("target",), solution=("explanation",), source="planets")
    [record] = read_paths([FIXTURES / "custom_fields" / "planets.jsonl"], fields=fields).records
    assert (record.problem.text, record.problem.reference_answer, record.problem.source) == (
        "Name the largest planet.",
        "Jupiter",
        "planets",
    )
    assert record.problem.reference_solution.startswith("Jupiter is the largest")


def test_chat_lines_import_as_problem_and_draft(tmp_path):
    path = tmp_path / "chat.jsonl"
    lines = [
        {
            "messages": [
                {"role": "system", "content": "Be careful."},
                {"role": "user", "content": "Q1"},
                {"role": "assistant", "content": "A1"},
            ]
        },
        {
            "system": "s",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Q2"}]},
                {"role": "assistant", "content": "A2"},
            ],
        },
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines))
    records = read_paths([path]).records
    assert [(r.problem.text, r.attempts[0].text) for r in records] == [("Q1", "A1"), ("Q2", "A2")]


@pytest.mark.parametrize(
    "block, message",
    [
        ({"type": "text", "text": 7}, '"text" of a content block must be text, not a number'),
        ({"type": "text", "text": ["Q"]}, '"text" of a content block must be text, not an array'),
        ({"type": "text", "text": {"t": "Q"}}, '"text" of a content block must be text, not an object'),
    ],
)
def test_chat_block_with_non_text_is_one_bad_row(tmp_path, block, message):
    path = tmp_path / "chat.jsonl"
    bad = {"messages": [{"role": "user", "content": [block]}, {"role": "assistant", "content": "A"}]}
    good = {"messages": [{"role": "user", "content": [{"type": "text", "text": "Q2"}, {"type": "text"}]}]}
    path.write_text(json.dumps(bad) + "\n" + json.dumps(good) + "\n")
    result = read_paths([path])
    assert [r.problem.text for r in result.records] == ["Q2"]
    assert [str(e) for e in result.errors] == [f"{path}:1: {message}"]


@pytest.mark.parametrize(
    "name, content, fmt",
    [
        ("a.md", "### Question:\nx\n", "markdown"),
        ("a.csv", "question,answer\n", "csv"),
        ("a.jsonl", '{"problem": "x"}\n', "jsonl"),
        ("a.json", '{"problem": "x", "solution": "y", "ground_truth": "z"}', "reasonset"),
        ("a.json", '[{"problem": "x", "answer": "1"}]', "jsonl"),
        ("a.json", '[{"problem": "x", "working_out": "w"}]', "reasonset"),
        ("noext", '{"problem": "x", "solution": "y", "ground_truth": "z"}', "reasonset"),
        ("noext", "### Question:\nx\n### Answer:\ny\n", "markdown"),
        ("notes.txt", "hello", None),
    ],
)
def test_detect_format_by_extension_and_content(tmp_path, name, content, fmt):
    assert detect_format(tmp_path / name, content) == fmt


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("binary.json", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary file, not text"),
        ("latin1.json", '{"problem": "caf\xe9"}'.encode("latin-1"), "not UTF-8 text (byte 0xe9)"),
        ("empty.json", b"", "empty file"),
        ("blank.md", b"  \n\n", "empty file"),
        ("number.json", b"42", "expected a JSON object or an array of objects, found a number"),
        ("truncated.json", b'{"problem": "x", "solution": ', "invalid JSON: Expecting value (column 30)"),
        (
            "no_problem.json",
            b'{"solution": "s", "ground_truth": "g"}',
            "no problem text (looked for: problem, question)",
        ),
        (
            "bad_solution.json",
            b'{"problem": "p", "solution": [1], "ground_truth": "g"}',
            '"solution" must be text or an object, not an array',
        ),
        ("bad_row.json", b'{"problem": "p", "solution": [1, 2]}', '"solution" must be text, not an array'),
        ("list_problem.json", b'{"problem": ["p"], "solution": "s"}', '"problem" must be text, not an array'),
        ("deep.json", b"[" * 100_000 + b"]" * 100_000, "invalid JSON: nested too deeply"),
        ("unknown.txt", b"hello", "unrecognised format (use --format)"),
    ],
)
def test_bad_file_is_one_issue_with_path_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    result = read_paths([path])
    assert result.records == []
    assert [e.message for e in result.errors] == [message]
    assert str(result.errors[0]).startswith(f"{path}:")


def test_missing_path_is_reported(tmp_path):
    result = read_paths([tmp_path / "nowhere"])
    assert [str(e) for e in result.errors] == [f"{tmp_path / 'nowhere'}: no such file or directory"]


def test_bad_rows_are_reported_by_line_and_good_rows_kept(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"problem": "good 1"}\n{"problem": \n7\n{"question": "good 2"}\n{"answer": "1"}\n')
    result = read_paths([path])
    assert [r.problem.text for r in result.records] == ["good 1", "good 2"]
    assert [str(e) for e in result.errors] == [
        f"{path}:2: invalid JSON: Expecting value (column 13)",
        f"{path}:3: expected an object with a problem field, found a number",
        f"{path}:5: no problem text (looked for: problem, question)",
    ]


def test_bad_csv_row_and_array_item_have_their_lines(tmp_path):
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text('problem,answer\n"ok",1\n"",2\n"multi\nline ok",3\n"",4\n')
    result = read_paths([csv_path])
    assert [r.problem.text for r in result.records] == ["ok", "multi\nline ok"]
    assert [str(e) for e in result.errors] == [
        f"{csv_path}:3: no problem text (looked for: problem, question)",
        f"{csv_path}:6: no problem text (looked for: problem, question)",
    ]
    array_path = tmp_path / "array.json"
    array_path.write_text('[\n  {"problem": "a"},\n  "just text",\n  {"problem": "b"}\n]')
    result = read_paths([array_path])
    assert [str(e) for e in result.errors] == [f"{array_path}:3: expected an object with a problem field, found a string"]


def test_corrupt_file_among_good_ones_is_named_and_the_rest_imported(tmp_path, store):
    folder = tmp_path / "ReasonSet (copy)"
    shutil.copytree(REASONSET, folder)
    corrupt = folder / "gpqa" / "synthetic_9.json"
    corrupt.write_text('{"problem": "cut off')
    (folder / "README.md").write_text("# not data\n")  # READMEs in a data folder are not imported
    (folder / ".hidden.json").write_text("garbage")
    outcome = import_paths(store, [folder])
    assert [str(e) for e in outcome.errors] == [f"{corrupt}:1: invalid JSON: Unterminated string starting at (column 13)"]
    assert outcome.files == 6
    assert outcome.summary.attempts_added == 5
    assert store.count_problems() == 4


def test_strict_imports_nothing_unless_everything_is_valid(tmp_path, store):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "fine"}\nnot json\n')
    outcome = import_paths(store, [REASONSET, bad], strict=True)
    assert not outcome.committed and len(outcome.errors) == 1
    assert store.count_problems() == 0
    outcome = import_paths(store, [REASONSET], strict=True)
    assert outcome.committed and store.count_problems() == 4


def test_strict_parses_everything_before_taking_the_write_lock(tmp_path, store):
    """Other processes (the TUI) can write while a strict import is still reading its files."""
    files = []
    for n in range(3):
        files.append(tmp_path / f"rows{n}.jsonl")
        files[-1].write_text(json.dumps({"problem": f"problem {n}"}) + "\n")
    other = sqlite3.connect(store.path, timeout=0, isolation_level=None)  # fails at once if locked
    could_write = []

    def paths_while_another_process_writes():
        for path in files:
            yield path  # the reader has read the previous file when it asks for the next
            try:
                other.execute("begin immediate")
                other.execute("rollback")
                could_write.append(True)
            except sqlite3.OperationalError as exc:
                could_write.append(str(exc))

    outcome = import_paths(store, paths_while_another_process_writes(), strict=True)
    other.close()
    assert could_write == [True, True, True]
    assert outcome.committed and outcome.errors == []
    assert outcome.summary.problems_added == store.count_problems() == 3


def test_strict_stores_in_batches_inside_one_transaction(tmp_path, store):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"problem": f"p{n}"}) + "\n" for n in range(25)))
    outcome = import_paths(store, [path], strict=True, batch_size=10)
    assert outcome.committed and outcome.summary.problems_added == store.count_problems() == 25


@pytest.mark.parametrize(
    "value, expected",
    [
        (2, 2),
        ("3", 3),
        ("'1'", 1),
        ("2.0", 2),
        (2.7, 2),
        (SQLITE_MAX_INTEGER, SQLITE_MAX_INTEGER),
        (str(SQLITE_MAX_INTEGER), SQLITE_MAX_INTEGER),  # exact, not rounded through float
        # unusable as a count, so unknown: the default, never an exception
        ("1e400", 0),
        ("inf", 0),
        ("-inf", 0),
        ("nan", 0),
        (float("inf"), 0),
        (float("nan"), 0),
        (10**23, 0),
        (SQLITE_MAX_INTEGER + 1, 0),
        pytest.param("1" + "0" * 5000, 0, id="5001 digits"),
        (-3, 0),
        ("x", 0),
        (None, 0),
        (True, 0),
        ([1], 0),
    ],
)
def test_whole_number_is_always_storable(value, expected):
    assert whole_number(value) == expected


def test_out_of_range_iterations_cost_neither_the_row_nor_the_batch(tmp_path, store):
    def row(n, iterations):
        solution = {"working_out": f"draft {n}", "is_correct": "True", "iterations": iterations}
        return json.dumps({"problem": f"problem {n}", "solution": solution, "ground_truth": "g"})

    odd = [10**23, "1e400", "inf", "-inf", "nan", -1, 2**64]
    lines = [row(n, 1) for n in range(1000)] + [row(1000 + n, value) for n, value in enumerate(odd)]
    lines.append(row(2000, 1).replace('"iterations": 1', '"iterations": 1e400'))  # JSON infinity
    path = tmp_path / "rel.jsonl"
    path.write_text("\n".join(lines) + "\n")
    outcome = import_paths(store, [path], batch_size=1000)
    assert outcome.errors == []
    assert outcome.summary.problems_added == store.count_problems() == 1000 + len(odd) + 1
    iterations = dict(store.conn.execute("select p.text, a.iteration from attempts a join problems p on p.id = a.problem_id"))
    assert iterations["problem 0"] == 1
    assert {iterations[f"problem {1000 + n}"] for n in range(len(odd))} == {0}
    assert iterations["problem 2000"] == 0


def test_a_number_too_long_for_python_is_kept_as_written(tmp_path):
    """Numbers are read as the text they were written as (Python refuses ints over 4300 digits)."""
    path = tmp_path / "rows.jsonl"
    path.write_text('{"problem": "p", "level": 1' + "0" * 5000 + '}\n{"problem": "fine"}\n')
    result = read_paths([path])
    assert [r.problem.text for r in result.records] == ["p", "fine"]
    assert result.records[0].problem.level == "1" + "0" * 5000 and result.errors == []
    whole = tmp_path / "array.json"
    whole.write_text('[{"problem": "p", "level": 1' + "0" * 5000 + "}]")
    assert read_paths([whole]).records[0].problem.level == "1" + "0" * 5000


def test_explicit_format_is_obeyed(tmp_path):
    path = tmp_path / "rows.txt"
    path.write_text('{"problem": "a", "answer": "1"}\n{"problem": "b", "answer": "2"}\n')
    assert [r.problem.text for r in read_paths([path], fmt="jsonl").records] == ["a", "b"]
    folder_result = read_paths([MARKDOWN], fmt="markdown")
    assert folder_result.files == 2 and folder_result.errors == []


# -- bundled dataset -------------------------------------------------------------------------


def test_bundled_dataset_reads_cleanly_with_subjects_and_levels():
    result = bundled.read_bundled()
    assert result.errors == []
    problems = [r for r in result.records if not r.attempts]
    worked = [r for r in result.records if r.attempts]
    assert len(problems) >= 60 and len(worked) >= 5
    assert all(r.problem.source == "bundled" for r in result.records)
    assert all(r.problem.reference_answer and r.problem.subject and r.problem.level for r in problems)


def test_load_bundled_attaches_worked_solutions_and_is_idempotent(store):
    result = bundled.read_bundled()
    distinct = {r.problem.hash for r in result.records}
    worked = [r for r in result.records if r.attempts]
    summary = bundled.load_bundled(store)
    assert summary.problems_added == store.count_problems() == len(distinct)
    assert summary.attempts_added == len(worked)
    assert store.counts()[ProblemState.AWAITING_REVIEW] == len({r.problem.hash for r in worked})
    for problem_id in store.queue(limit=100):
        history = store.history(problem_id.id)
        assert history.problem.reference_answer  # joined the bundled problem, not a copy of its own
        assert history.attempts[0].kind == AttemptKind.IMPORTED
    again = bundled.load_bundled(store)
    assert (again.problems_added, again.attempts_added) == (0, 0)


def test_bundled_dir_prefers_the_installed_copy(tmp_path, monkeypatch):
    assert bundled.bundled_dir() == Path(__file__).resolve().parent.parent / "dataset"
    (tmp_path / "_dataset").mkdir()
    monkeypatch.setattr(bundled.resources, "files", lambda package: tmp_path)
    assert bundled.bundled_dir() == tmp_path / "_dataset"


def test_lone_surrogates_are_replaced_so_sqlite_can_store_them(tmp_path, store):
    path = tmp_path / "odd.jsonl"
    path.write_text('{"problem": "bad \\ud800 char", "worked_solution": "draft \\udfff"}\n')
    outcome = import_paths(store, [path])
    assert outcome.errors == [] and outcome.summary.problems_added == 1
    assert store.get_problem(1).text == "bad ? char"


def test_line_separators_inside_strings_do_not_split_rows(tmp_path):
    jsonl = tmp_path / "odd.jsonl"
    jsonl.write_text('{"problem": "one\u2028two\x85three"}\n{"problem": "second"}\n', encoding="utf-8")
    assert [r.problem.text for r in read_paths([jsonl]).records] == ["one\u2028two\x85three", "second"]
    csv_path = tmp_path / "odd.csv"
    csv_path.write_text("problem,answer\none\u2028two,1\nsecond,2\n", encoding="utf-8")
    assert [r.problem.text for r in read_paths([csv_path]).records] == ["one\u2028two", "second"]


def test_markdown_headings_with_inline_text(tmp_path):
    path = tmp_path / "inline.md"
    path.write_text("## **Question:** What is 1+1?\n\n### Answer: Two, since 1+1 = 2.\n### Answer: still the answer\n")
    [record] = read_paths([path]).records
    assert record.problem.text == "What is 1+1?"
    assert record.attempts[0].text == "Two, since 1+1 = 2.\n### Answer: still the answer"


@pytest.mark.parametrize("letters, warned", [("AAAAA", True), ("AAAAB", False), ("AAAA", False)])
def test_multiple_choice_answers_all_in_one_place_are_warned_about(tmp_path, letters, warned):
    source = tmp_path / "mc.jsonl"
    source.write_text(
        "".join(
            json.dumps({"problem": f"Question {i}?\nOptions:\n(A) x\n(B) y\n(C) z\n(D) w", "answer": f"({letter})"}) + "\n"
            for i, letter in enumerate(letters)
        )
    )
    with Store(tmp_path / "rel.db") as store:
        outcome = import_paths(store, [source])
    assert outcome.summary.problems_added == len(letters)
    assert bool(outcome.warnings) == warned
    if warned:
        assert outcome.warnings[0].startswith("all 5 multiple-choice problems have answer (A)")
