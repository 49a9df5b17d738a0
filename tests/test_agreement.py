"""Agreement figures: published worked examples, then hand-checked decisions through a real store."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from rel_core.agreement import (
    Metric,
    agreement_report,
    cohen_kappa,
    decision_report,
    krippendorff_alpha,
    step_label_report,
)
from rel_core.models import Decision, Problem, Review
from rel_core.store import Store
from rel_tui.cli import main

# Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. Annenberg School for
# Communication, University of Pennsylvania (repository.upenn.edu/asc_papers/43), section C:
# 4 observers, 12 units, missing data (None). Published: nominal .743, ordinal .815, interval .849.
N = None
OBSERVERS = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]


def _units() -> list[list[int]]:
    return [[value for value in column if value is not None] for column in zip(*OBSERVERS, strict=True)]


@pytest.mark.parametrize(("metric", "published"), [(Metric.NOMINAL, 0.743), (Metric.ORDINAL, 0.815), (Metric.INTERVAL, 0.849)])
def test_krippendorff_2011_example_with_missing_data(metric, published):
    assert krippendorff_alpha(_units(), metric) == pytest.approx(published, abs=0.0005)


def test_krippendorff_2011_binary_two_observers():
    # Same paper, section A: two observers, ten units, binary data; published alpha = 0.095.
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    assert krippendorff_alpha(list(zip(a, b, strict=True))) == pytest.approx(0.095, abs=0.0005)


def test_cohen_kappa_textbook_example():
    # Wikipedia, "Cohen's kappa", worked example: 50 grant proposals read by A and B; both yes 20,
    # A yes / B no 5, A no / B yes 10, both no 15: p_o = 0.7, p_e = 0.5, kappa = 0.4.
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4)


def test_the_same_triples_give_the_2011_figures():
    ratings = [
        (unit, f"observer {observer}", value)
        for observer, row in enumerate(OBSERVERS)
        for unit, value in enumerate(row)
        if value is not None
    ]
    report = agreement_report(ratings, "example", Metric.ORDINAL)
    assert report.overall.alpha == pytest.approx(0.815, abs=0.0005)
    assert report.overall.items == 11  # unit 12 has a single rating and cannot be paired
    assert len(report.pairs) == 6


def test_undefined_figures_are_none_not_a_division_by_zero():
    assert cohen_kappa([]) is None
    assert cohen_kappa([("a", "a"), ("a", "a")]) is None  # no variation: chance agreement is 1
    assert krippendorff_alpha([["a", "a"], ["a", "a"]]) is None
    assert krippendorff_alpha([["a"], ["b"]]) is None  # nothing pairable


def test_step_labels_only_steps_both_labelled_count():
    ratings = [
        ((1, 10, 1), "alice", 1), ((1, 10, 1), "bob", 1),
        ((1, 10, 2), "alice", -1), ((1, 10, 2), "bob", 0),
        ((1, 10, 3), "alice", 0), ((1, 10, 3), "bob", 0),
        ((1, 10, 4), "alice", -1), ((1, 10, 4), "bob", -1),
        ((1, 10, 5), "alice", 1),  # only alice labelled step 5
    ]  # fmt: skip
    report = step_label_report(ratings)
    assert report.metric is Metric.ORDINAL
    (pair,) = report.pairs
    assert pair.items == 4
    assert pair.percent_agreement == pytest.approx(0.75)
    # Unweighted kappa by hand: alice -1:2 0:1 +1:1, bob -1:1 0:2 +1:1; p_e = (2+2+1)/16.
    assert pair.kappa == pytest.approx((0.75 - 5 / 16) / (1 - 5 / 16))
    # Ordinal alpha by hand: n(-1)=3, n(0)=3, n(+1)=2, n=8; delta²(c,k) = (sum of n_g from c to k
    # - (n_c + n_k)/2)²: (-1,0) = (6 - 3)² = 9, (-1,+1) = (8 - 2.5)² = 30.25, (0,+1) = (5 - 2.5)² = 6.25.
    expected = 3 * 3 * 9 * 2 + 3 * 2 * 30.25 * 2 + 3 * 2 * 6.25 * 2
    assert pair.alpha == pytest.approx(1 - 7 * (2 * 9) / expected)


# -- decisions through a real SQLite store ------------------------------------------------------


def _decide(store: Store, problem_id: int, annotator: str, decision: Decision) -> None:
    store.record_review(Review(problem_id=problem_id, decision=decision, annotator=annotator))


@pytest.fixture
def decided_db(tmp_path):
    """alice, bob and carol on six problems; the figures below are worked out by hand."""
    path = tmp_path / "team.db"
    A, R, S = Decision.ACCEPTED, Decision.REJECTED, Decision.SKIPPED
    with Store(path) as store:
        ids = [store.add_problem(Problem(text=f"Problem {n}"))[0] for n in range(1, 7)]
        p = dict(zip(range(1, 7), ids, strict=True))
        for annotator, decisions in {
            "alice": [(1, A), (2, A), (3, R), (4, A), (6, A)],
            "bob": [(1, A), (2, R), (3, R), (4, A), (5, S), (6, R), (6, A)],  # on 6 bob changed his mind: A counts
            "carol": [(1, A), (3, A)],
        }.items():
            for number, decision in decisions:
                _decide(store, p[number], annotator, decision)
        _decide(store, p[5], "alice", R)
        store.undo_last_review("alice")  # undone: alice has not decided 5
    return path


def test_decision_agreement_by_hand(decided_db):
    with Store(decided_db) as store:
        report = decision_report(store.conn)
    pairs = {tuple(p.annotators): p for p in report.pairs}
    alice_bob = pairs[("alice", "bob")]
    # Problems 1, 2, 3, 4, 6: agree on 4 of 5. alice A4 R1, bob A3 R2: p_e = 14/25.
    assert alice_bob.items == 5
    assert alice_bob.percent_agreement == pytest.approx(0.8)
    assert alice_bob.kappa == pytest.approx((0.8 - 14 / 25) / (1 - 14 / 25))
    # Coincidences: o(A,A)=6, o(R,R)=2, o(A,R)=o(R,A)=1; n_A=7, n_R=3, n=10: 1 - 9·2 / (2·7·3) = 4/7.
    assert alice_bob.alpha == pytest.approx(4 / 7)
    for other in (("alice", "carol"), ("bob", "carol")):
        assert pairs[other].items == 2  # problems 1 and 3
        assert pairs[other].kappa == pytest.approx(0.0)
        assert pairs[other].alpha == pytest.approx(0.0)
    overall = report.overall
    assert overall.items == 5  # problem 5 has no second decision
    assert overall.percent_agreement == pytest.approx(3 / 5)
    assert overall.kappa == pytest.approx((4 / 11 * 1.5) / 3)  # Light's: mean of 0.545…, 0, 0
    # o(A,A)=7, o(R,R)=1, o(A,R)=o(R,A)=2; n_A=9, n_R=3, n=12: 1 - 11·4 / (2·9·3) = 10/54.
    assert overall.alpha == pytest.approx(10 / 54)


def test_agreement_command_tables_and_json(decided_db):
    runner = CliRunner()
    shown = runner.invoke(main, ["--db", str(decided_db), "agreement"], terminal_width=120)
    assert shown.exit_code == 0, shown.output
    assert "alice · bob" in shown.output and "0.545" in shown.output and "0.571" in shown.output
    as_json = runner.invoke(main, ["--db", str(decided_db), "agreement", "--json"])
    assert as_json.exit_code == 0, as_json.output
    reports = {entry["subject"]: entry for entry in json.loads(as_json.output)}
    report = reports["accept/reject"]  # a database with step_labels also has a per-step report
    assert report["overall"]["items"] == 5
    assert report["overall"]["alpha"] == pytest.approx(10 / 54)


def test_agreement_command_on_a_missing_database_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["--db", str(tmp_path / "none.db"), "agreement"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: {tmp_path / 'none.db'}: no such database"]


# m006's tables (rel_core/labels.py), as far as agreement reads them; `if not exists`: where the
# store already made them, the test uses those.
_LABEL_TABLES = (
    (
        "create table if not exists label_actions (id integer primary key, attempt_id integer not null references attempts(id), "
        "annotator text not null, kind text not null, created_at text not null, undone_at text)"
    ),
    (
        "create table if not exists step_labels (id integer primary key, action_id integer not null references label_actions(id), "
        "attempt_id integer not null references attempts(id), step integer not null, step_hash text not null, "
        "field text not null, rating integer, flagged integer, comment text)"
    ),
)


def _rate(store: Store, attempt_id: int, annotator: str, step: int, rating: int | None, undone: bool = False) -> None:
    with store.transaction():
        action = store.conn.execute(
            "insert into label_actions (attempt_id, annotator, kind, created_at, undone_at) values (?, ?, 'rate', 't', ?)",
            [attempt_id, annotator, "t" if undone else None],
        ).lastrowid
        store.conn.execute(
            "insert into step_labels (action_id, attempt_id, step, step_hash, field, rating) values (?, ?, ?, ?, 'rating', ?)",
            [action, attempt_id, step, f"hash-{step}", rating],
        )


def test_step_label_agreement_from_the_step_labels_table(tmp_path):
    from rel_core.agreement import reports, step_ratings
    from rel_core.models import Attempt, AttemptKind

    with Store(tmp_path / "labels.db") as store:
        problem_id, _ = store.add_problem(Problem(text="A problem with steps"))
        attempt_id = store.add_attempt(Attempt(problem_id=problem_id, kind=AttemptKind.GENERATED, text="1. a\n2. b\n3. c"))
        assert step_ratings(store.conn) is None or step_ratings(store.conn) == []  # no table (or an empty one)
        for sql in _LABEL_TABLES:
            store.conn.execute(sql)
        # The same four steps as test_step_labels_only_steps_both_labelled_count, with history:
        _rate(store, attempt_id, "alice", 1, 1)
        _rate(store, attempt_id, "bob", 1, -1)
        _rate(store, attempt_id, "bob", 1, 1)  # bob changed his mind: +1 stands
        _rate(store, attempt_id, "alice", 2, -1)
        _rate(store, attempt_id, "bob", 2, 0)
        _rate(store, attempt_id, "alice", 3, 0)
        _rate(store, attempt_id, "bob", 3, 0)
        _rate(store, attempt_id, "alice", 4, -1)
        _rate(store, attempt_id, "bob", 4, -1)
        _rate(store, attempt_id, "bob", 4, 1, undone=True)  # undone: -1 stands
        _rate(store, attempt_id, "alice", 5, 1)
        _rate(store, attempt_id, "bob", 5, None)  # cleared: bob has no rating of step 5
        decisions, steps = reports(store.conn)
    assert decisions.overall.items == 0
    (pair,) = steps.pairs
    assert (steps.subject, steps.metric, pair.items) == ("step labels", Metric.ORDINAL, 4)
    assert pair.kappa == pytest.approx((0.75 - 5 / 16) / (1 - 5 / 16))
    expected = 3 * 3 * 9 * 2 + 3 * 2 * 30.25 * 2 + 3 * 2 * 6.25 * 2
    assert pair.alpha == pytest.approx(1 - 7 * (2 * 9) / expected)
