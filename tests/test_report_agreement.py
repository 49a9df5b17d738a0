"""`rel-tui report --agreement` (the issue's name for it) prints what `rel-tui agreement` prints."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from rel_core.models import Decision, Problem, Review
from rel_core.store import Store
from rel_tui.cli import main

A, R = Decision.ACCEPTED, Decision.REJECTED


@pytest.fixture
def team_db(tmp_path):
    """alice A A R A, bob A R R A on four problems. By hand: they agree on 3 of 4; alice accepts 3/4
    and bob 2/4, so p_e = 3/4·2/4 + 1/4·2/4 = 1/2 and kappa = (3/4 - 1/2) / (1 - 1/2) = 0.5.
    Alpha: n = 8 values, 5 A and 3 R, one disagreeing unit: 1 - 7·2 / (2·5·3) = 8/15 = 0.533."""
    path = tmp_path / "team.db"
    with Store(path) as store:
        ids = [store.add_problem(Problem(text=f"Problem {n}"))[0] for n in range(4)]
        for annotator, decisions in {"alice": [A, A, R, A], "bob": [A, R, R, A]}.items():
            for problem_id, decision in zip(ids, decisions, strict=True):
                store.record_review(Review(problem_id=problem_id, decision=decision, annotator=annotator))
    return path


def run(db, *args: str):
    return CliRunner().invoke(main, ["--db", str(db), *args], terminal_width=120)


def test_report_agreement_prints_the_agreement_tables(team_db):
    shown = run(team_db, "report", "--agreement")
    assert shown.exit_code == 0, shown.output
    assert "alice · bob" in shown.output
    assert "0.500" in shown.output and "0.533" in shown.output and "75%" in shown.output
    assert "Critic against" not in shown.output  # the agreement, not the usual report
    assert shown.output == run(team_db, "agreement").output  # one output, two names


def test_report_agreement_json_is_the_agreement_json(team_db):
    as_json = run(team_db, "report", "--agreement", "--json")
    assert as_json.exit_code == 0, as_json.output
    assert as_json.output == run(team_db, "agreement", "--json").output
    [decisions] = [entry for entry in json.loads(as_json.output) if entry["subject"] == "accept/reject"]
    assert decisions["overall"]["items"] == 4
    assert decisions["overall"]["kappa"] == pytest.approx(0.5)
    assert decisions["overall"]["alpha"] == pytest.approx(8 / 15)


def test_the_plain_report_is_unchanged(team_db):
    shown = run(team_db, "report")
    assert shown.exit_code == 0, shown.output
    assert "Annotators" in shown.output and "kappa" not in shown.output


@pytest.mark.parametrize("extra", [["--source", "olympiad"], ["--since", "2026-01-01"], ["--until", "2026-01-01"]])
def test_report_agreement_refuses_filters_it_would_ignore(team_db, extra):
    result = run(team_db, "report", "--agreement", *extra)
    assert result.exit_code == 2
    assert "--agreement takes no --source, --since or --until" in result.output
    assert "kappa" not in result.output


def test_report_agreement_on_a_missing_database_is_one_line(tmp_path):
    missing = tmp_path / "none.db"
    result = run(missing, "report", "--agreement")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: {missing}: no such database"]
    assert not missing.exists()
