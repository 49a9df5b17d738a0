"""`rel-tui report`: figures from a database with known rulings and decisions, built through the
core API, checked against values computed by hand (the computation is in the comments)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from click.testing import CliRunner

from rel_core import labels
from rel_core.labels import Rating, RulingAspect
from rel_core.models import (
    Attempt,
    AttemptKind,
    Critique,
    CritiqueSource,
    Decision,
    LLMCall,
    Problem,
    Review,
    Verdict,
)
from rel_core.report import ReportFilter, build_report
from rel_core.store import Store
from rel_tui.cli import main

A, B = "openai:critic-a", "anthropic:critic-b"
G1, G2 = "openai:gen-1", "anthropic:gen-2"
TEXT = "Step one.\n\nStep two.\n\nStep three.\n\n<ANSWER>{}</ANSWER>"
OLD = "2026-01-05T10:00:00.000+00:00"  # reviews dated in the past, for the date filter


def problem(store, name, source="bundled") -> int:
    problem_id, _ = store.add_problem(Problem(text=f"Problem {name}", reference_answer="1", source=source))
    return problem_id


def attempt(store, problem_id, kind=AttemptKind.GENERATED, model=G1, parent=None) -> int:
    return store.add_attempt(
        Attempt(problem_id=problem_id, kind=kind, text=TEXT.format(problem_id), model=model, parent_id=parent)
    )


def llm(store, attempt_id, verdict, step=None, model=A) -> int:
    raw = json.dumps({"verdict": verdict, "first_error_step": step, "error_description": "x"}) if verdict else "I am not sure."
    return store.add_critique(
        Critique(attempt_id=attempt_id, verdict=Verdict(verdict or "unknown"), source=CritiqueSource.LLM, model=model, raw=raw)
    )


def check(store, attempt_id, verdict) -> int:
    return store.add_critique(
        Critique(attempt_id=attempt_id, verdict=Verdict(verdict), source=CritiqueSource.CHECK, model="math-verify")
    )


def review(store, problem_id, decision, attempt_id, who, seconds, created_at=None) -> None:
    fields = {"created_at": created_at} if created_at else {}
    store.record_review(
        Review(problem_id=problem_id, decision=decision, attempt_id=attempt_id, annotator=who, seconds_spent=seconds, **fields)
    )


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "rel.db") as store:
        build(store)
        yield store


def build(store) -> None:
    p1, p2, p3, p4, p5 = (problem(store, n) for n in range(1, 6))
    p6 = problem(store, 6, source="other")

    # P1: a1 (gen-1) wrong: c1 critic-a incorrect at step 2, then the check says incorrect; c7 critic-b
    # incorrect at step 2 too. The revision a1b is checked correct and ana accepts it.
    a1 = attempt(store, p1)
    c1 = llm(store, a1, "incorrect", 2)
    check(store, a1, "incorrect")
    c7 = llm(store, a1, "incorrect", 2, model=B)
    a1b = attempt(store, p1, AttemptKind.REVISED, parent=a1)
    check(store, a1b, "correct")
    labels.rule_on_critique(store, c1, RulingAspect.VERDICT, True, "ana")  # TP for A
    labels.rule_on_critique(store, c1, RulingAspect.FIRST_ERROR_STEP, True, "ana")  # A's step right
    labels.rule_on_critique(store, c7, RulingAspect.VERDICT, True, "ana")  # TP for B
    review(store, p1, Decision.ACCEPTED, a1b, "ana", 30)

    # P2: the check says correct first, then c2 critic-a incorrect at step 1 (told: left out against
    # the check); ana disagrees with the verdict (FP) and rejects the problem.
    a2 = attempt(store, p2)
    check(store, a2, "correct")
    c2 = llm(store, a2, "incorrect", 1)
    labels.rule_on_critique(store, c2, RulingAspect.VERDICT, False, "ana")  # FP for A
    review(store, p2, Decision.REJECTED, a2, "ana", 60, created_at=OLD)

    # P3: c3 critic-a correct, the check (after) incorrect: FN against both; ana skips.
    a3 = attempt(store, p3)
    c3 = llm(store, a3, "correct")
    check(store, a3, "incorrect")
    labels.rule_on_critique(store, c3, RulingAspect.VERDICT, False, "ana")  # FN for A
    review(store, p3, Decision.SKIPPED, a3, "ana", 5, created_at=OLD)

    # P4: c4 critic-a correct, no check. ana first rules "disagree", undoes it, rules "agree" (TN).
    # She edits the draft and accepts her edit.
    a4 = attempt(store, p4)
    c4 = llm(store, a4, "correct")
    labels.rule_on_critique(store, c4, RulingAspect.VERDICT, False, "ana")
    labels.undo_last_label(store, "ana")
    labels.rule_on_critique(store, c4, RulingAspect.VERDICT, True, "ana")  # TN for A
    h4 = store.save_human_edit(p4, "ana", a4, "My own solution.\n\n<ANSWER>1</ANSWER>")
    review(store, p4, Decision.ACCEPTED, h4, "ana", 90)

    # P5: c5 critic-a incorrect at step 3, the check (after) correct: FP against the check. ana agrees
    # with the verdict (TP) and labels step 1 good, step 2 bad: her first -1 is step 2, not 3.
    a5 = attempt(store, p5)
    c5 = llm(store, a5, "incorrect", 3)
    check(store, a5, "correct")
    labels.rule_on_critique(store, c5, RulingAspect.VERDICT, True, "ana")  # TP for A
    labels.label_step(store, a5, 1, Rating.GOOD, "ana")
    labels.label_step(store, a5, 2, Rating.BAD, "ana")  # A's step 3 is wrong
    review(store, p5, Decision.REJECTED, a5, "bob", 20)

    # P6 (source "other"): a6 by gen-2, c6 critic-a unknown (left out), check correct: right first
    # time. bob accepts (40 s), undoes, accepts again (100 s).
    a6 = attempt(store, p6, model=G2)
    llm(store, a6, None)
    check(store, a6, "correct")
    review(store, p6, Decision.ACCEPTED, a6, "bob", 40)
    store.undo_last_review("bob")
    review(store, p6, Decision.ACCEPTED, a6, "bob", 100)

    # Calls: P1 $0.01, P2 $0.02, P3 a failed call (no tokens, no cost), P6 unpriced (tokens, no cost).
    for problem_id, cost, tokens, error in (
        (p1, 0.01, 10, None),
        (p2, 0.02, 10, None),
        (p3, None, None, "boom"),
        (p6, None, 100, None),
    ):
        store.log_call(
            LLMCall(
                problem_id=problem_id,
                provider="openai",
                model="m",
                purpose="generate",
                request="{}",
                cost_usd=cost,
                input_tokens=tokens,
                error=error,
            )
        )


def test_critic_precision_recall_and_step_accuracy(store):
    report = build_report(store)
    a, b = (next(c for c in report.critics if c.model == m) for m in (A, B))
    # Against experts, critic-a: TP c1, c5; FP c2; FN c3; TN c4 (the undone "disagree" does not count).
    # precision = 2 / (2 + 1) = 2/3; recall = 2 / (2 + 1) = 2/3. c6 (unknown) is left out: 5 critiques.
    assert a.critiques == 5
    e = a.against_experts
    assert (e.tp, e.fp, e.fn, e.tn) == (2, 1, 1, 1)
    assert e.precision == pytest.approx(2 / 3) and e.recall == pytest.approx(2 / 3)
    # Against the check, critic-a: c1 incorrect/incorrect TP; c2 told (check before it); c3
    # correct/incorrect FN; c4 no check; c5 incorrect/correct FP. precision 1/2, recall 1/2.
    k = a.against_check
    assert (k.tp, k.fp, k.fn, k.tn, a.told) == (1, 1, 1, 0, 1)
    assert k.precision == pytest.approx(0.5) and k.recall == pytest.approx(0.5)
    # Steps, critic-a: c1 right (ana agreed with step 2); c5 step 3 against ana's first -1, step 2:
    # wrong; c2 no step ruling, no labels: not compared. 1 / 2.
    assert (a.steps_right, a.steps_compared, a.step_accuracy) == (1, 2, 0.5)
    # critic-b: c7 TP against ana: precision 1, recall 1; against the check c7 was told (check before
    # it); its step: no ruling, no labels on a1: no step accuracy.
    assert (b.against_experts.precision, b.against_experts.recall, b.told, b.step_accuracy) == (1.0, 1.0, 1, None)
    assert b.against_check.precision is None


def test_generator_first_try_accuracy_and_revisions(store):
    report = build_report(store)
    g1, g2 = (next(g for g in report.generators if g.model == m) for m in (G1, G2))
    # gen-1 generations a1..a5. Verified: a1 False (check and critics incorrect), a2 None (check
    # correct, critic incorrect: disputed), a3 None (disputed), a4 True (critic correct), a5 None
    # (disputed). Judged 2, right first time 1: 50%. Solved: P1 at a1b (1 revision), P4 at a4 (0):
    # revisions needed (1 + 0) / 2 = 0.5.
    assert (g1.generations, g1.judged, g1.right_first_time, g1.first_try_accuracy) == (5, 2, 1, 0.5)
    assert (g1.solved, g1.revisions_needed) == (2, 0.5)
    # gen-2: a6, critic unknown and check correct: correct. 1/1, solved with 0 revisions.
    assert (g2.first_try_accuracy, g2.revisions_needed) == (1.0, 0.0)


def test_annotators(store):
    report = build_report(store)
    ana, bob = (next(a for a in report.annotators if a.annotator == n) for n in ("ana", "bob"))
    # ana: items P1 accept 30 s, P2 reject 60 s, P4 accept of her edit 90 s (P3's skip is not an item).
    # median(30, 60, 90) = 60; items/hour = 3 * 3600 / 180 = 60; accept 2/3, reject 1/3, edit 1/3.
    assert (ana.items, ana.skipped, ana.median_seconds, ana.items_per_hour) == (3, 1, 60, 60)
    assert (ana.accept_rate, ana.reject_rate, ana.edit_rate) == pytest.approx((2 / 3, 1 / 3, 1 / 3))
    # bob: P5 reject 20 s, P6 accept 100 s (the undone 40 s accept does not count). median 60,
    # items/hour = 2 * 3600 / 120 = 60, accept 1/2, reject 1/2, edit 0.
    assert (bob.items, bob.median_seconds, bob.items_per_hour, bob.accept_rate, bob.edit_rate) == (2, 60, 60, 0.5, 0)


def test_spend_per_verified_solution_says_when_it_is_a_lower_bound(store):
    spend = build_report(store).spend
    # Verified attempts of record: P1's a1b, P6's a6 (P4's accepted edit has no check: not verified).
    # Spend $0.03 over 4 calls, one unpriced, one failed: >= $0.03 / 2 = $0.015 per solution.
    assert (spend.verified_solutions, spend.calls, spend.unpriced, spend.failed) == (2, 4, 1, 1)
    assert spend.per_verified_solution_usd == pytest.approx(0.015)
    assert spend.describe_per_solution() == "≥ $0.0150 (1 call unpriced)"


def test_filters_by_source_and_date(store):
    bundled = build_report(store, ReportFilter(source="bundled"))
    # Without P6: no gen-2, bob has only P5, one verified solution (P1), calls of P1-P3: $0.03, all priced.
    assert [g.model for g in bundled.generators] == [G1]
    assert next(a for a in bundled.annotators if a.annotator == "bob").items == 1
    assert (bundled.spend.verified_solutions, bundled.spend.calls, bundled.spend.unpriced) == (1, 3, 0)
    assert bundled.spend.describe_per_solution() == "$0.0300"
    old = build_report(store, ReportFilter(until=date(2026, 1, 10)))
    # Only ana's P2 reject and P3 skip are dated before 10 January; everything else is today.
    assert [(a.annotator, a.items, a.skipped) for a in old.annotators] == [("ana", 1, 1)]
    assert old.critics == [] and old.generators == [] and old.spend.calls == 0
    assert old.spend.describe_per_solution() == "– (no verified solution)"
    since = build_report(store, ReportFilter(since=date(2026, 1, 6)))
    assert next(a for a in since.annotators if a.annotator == "ana").items == 2


def test_unknown_spend_says_unknown(tmp_path):
    with Store(tmp_path / "rel.db") as store:
        problem_id = problem(store, 1)
        a = attempt(store, problem_id)
        check(store, a, "correct")
        store.log_call(
            LLMCall(problem_id=problem_id, provider="openai", model="m", purpose="generate", request="{}", input_tokens=5)
        )
        spend = build_report(store).spend
    assert spend.per_verified_solution_usd is None and spend.describe_per_solution() == "unknown (1 call unpriced)"


def test_cli_tables_and_json(store, tmp_path):
    store.close()
    db = str(store.path)
    runner = CliRunner()
    result = runner.invoke(main, ["--db", db, "report", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    a = next(c for c in data["critics"] if c["model"] == A)
    assert a["against_experts"]["precision"] == pytest.approx(2 / 3) and a["step_accuracy"] == 0.5
    assert data["spend"]["per_verified_solution_usd"] == pytest.approx(0.015) and data["spend"]["spend_known"] is False
    result = runner.invoke(main, ["--db", db, "report", "--source", "bundled", "--since", "2026-01-01"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "openai:critic-a" in result.output and "67%" in result.output and "$0.0300" in result.output
    result = runner.invoke(main, ["--db", db, "report", "--since", "2026-02-01", "--until", "2026-01-01"])
    assert result.exit_code == 2 and "--since is after --until" in result.output
    result = runner.invoke(main, ["--db", str(tmp_path / "none.db"), "report"])
    assert result.exit_code == 1 and "no database" in result.output


def test_names_from_the_database_reach_the_terminal_as_plain_text(tmp_path):
    with Store(tmp_path / "rel.db") as store:
        problem_id = problem(store, 1)
        a = attempt(store, problem_id, model="openai:\x1b]52;c;aGk=\x07evil")
        review(store, problem_id, Decision.ACCEPTED, a, "[bold red]ana[/]", 10)
    result = CliRunner().invoke(main, ["--db", str(tmp_path / "rel.db"), "report"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "␛" in result.output
    assert "[bold red]ana[/]" in result.output
