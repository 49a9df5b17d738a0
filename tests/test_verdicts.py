"""One definition of the verdict (rel_core.verdicts): each disagreement the old copies had, pinned.

Real SQLite, the real loop through the real SDK client and the loopback server, the real exporter.
"""

from __future__ import annotations

import pytest
from llm_server import Reply
from loop_helpers import Script, solution

from rel_core import verdicts
from rel_core.config import LoopSettings, ProviderSettings, Settings
from rel_core.exporters import full_item
from rel_core.loop import LoopEngine
from rel_core.models import (
    Attempt,
    AttemptKind,
    Critique,
    CritiqueSource,
    Decision,
    ImportRecord,
    Problem,
    Review,
    Standing,
    Verdict,
)
from rel_core.planner import plan_next
from rel_core.providers.client import LLMClient

GEN, CRITIC = "openai:verdict-gen", "openai:verdict-critic"
SAYS_NO = "CORRECT: No\nERROR_STEP: 3\nERROR_DESCRIPTION: Step 3 divides by x without checking x = 0."


@pytest.fixture
def script(llm_server):
    script = Script()
    llm_server.respond_with(script)
    return script


@pytest.fixture
async def make_engine(store, llm_env):
    engines = []

    def make(**loop) -> LoopEngine:
        settings = Settings(
            generator=GEN,
            critic=CRITIC,
            openai=ProviderSettings(base_url=llm_env.openai_base_url, max_retries=0, timeout=10),
            loop=LoopSettings(**loop),
        )
        engine = LoopEngine(store, LLMClient(settings, store), settings)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()
        await engine.client.aclose()


def add_problem(store, marker: str, answer: str = "42") -> int:
    problem_id, _ = store.add_problem(Problem(text=f"{marker} What is 6 x 7?", reference_answer=answer))
    return problem_id


def import_draft(store, text: str, answer: str, critique: Critique | None = None, final_answer: str | None = None) -> int:
    record = ImportRecord(
        problem=Problem(text=f"Imported: what is {answer}?", reference_answer=answer),
        attempts=[Attempt(kind=AttemptKind.IMPORTED, text=text, final_answer=final_answer)],
        critiques=[critique] if critique else [],
    )
    store.import_records([record])
    return store.queue(states=None)[-1].id


def queue_item(store, problem_id):
    return next(item for item in store.queue(states=None) if item.id == problem_id)


def exported(store, problem_id):
    history = store.history(problem_id)
    return full_item(history, verdicts.attempt_of_record(history))


# -- the disagreements -------------------------------------------------------------------------


def test_an_imported_correct_with_an_unknown_check_is_unknown_everywhere(store):
    """Queue said unknown, pane "✓ correct (imported)", export null: now all unknown, the import shown apart."""
    problem_id = import_draft(
        store, "The reason is that the set is closed.", "closed under addition",
        Critique(verdict=Verdict.CORRECT, source=CritiqueSource.IMPORTED, raw="is_correct=True"),
    )  # fmt: skip
    history = store.history(problem_id)
    attempt = history.latest_attempt
    store.add_critique(
        Critique(attempt_id=attempt.id, verdict=Verdict.UNKNOWN, source=CritiqueSource.CHECK, raw="answer check: free text")
    )
    summary = verdicts.summary_of(store.history(problem_id), attempt)
    assert summary.standing == Standing.UNKNOWN and summary.label == "? unknown"
    assert (summary.imported.verdict, summary.imported.trusted) == (Verdict.CORRECT, False)
    assert (queue_item(store, problem_id).verdict, queue_item(store, problem_id).verdict_label) == (Standing.UNKNOWN, "? unknown")
    assert exported(store, problem_id)["verified"] is None


async def test_the_critics_no_is_not_hidden_by_a_correct_check(store, script, make_engine):
    """The critic answered `CORRECT: No, ERROR_STEP: 3` while the check said correct."""
    problem_id = add_problem(store, "[D1]")
    script.on("[D1]", "generate", solution("42"))
    script.on("[D1]", "critic", SAYS_NO)
    await make_engine(critic_when_correct=True).run_problem(problem_id)
    history = store.history(problem_id)
    summary = verdicts.summary_of(history, history.latest_attempt, "42")
    assert summary.check.verdict == Verdict.CORRECT and summary.check.answer == "42"
    assert (summary.critic.verdict, summary.critic.first_error_step) == (Verdict.INCORRECT, "3")
    assert summary.critic.model == CRITIC
    assert summary.standing == Standing.DISPUTED
    assert queue_item(store, problem_id).verdict_label == "disputed: ✓ check · ✗ critic"
    assert exported(store, problem_id)["verified"] is None  # disputed is not verified
    # The loop still settles the dispute by the answer check: the expert sees it in review.
    assert verdicts.loop_verdict(history.critiques_for(history.latest_attempt.id)) == Verdict.CORRECT
    assert plan_next(history, make_engine().settings).step == "done"


async def test_a_cut_off_draft_is_not_told_its_matching_answer_is_wrong(store, script, make_engine, llm_server):
    """Cut off after `<ANSWER>42</ANSWER>` (reference 42): the critic hears it stopped, not "(42) is not equivalent"."""
    problem_id = add_problem(store, "[D2]")
    cut_off = "6 x 7 = 42. <ANSWER>42</ANSWER>\n\nLet me double-check by expanding the"
    script.on("[D2]", "generate", Reply(cut_off, finish_reason="length"))
    script.on("[D2]", "critic", '{"verdict": "incorrect", "first_error_step": null, "error_description": "Unfinished."}')
    script.on("[D2]", "revise", solution("42"))
    await make_engine().run_problem(problem_id)
    critic_prompt = next(r.prompt for r in llm_server.requests if "marking a student's worked solution" in r.prompt)
    assert "is not equivalent to the correct answer" not in critic_prompt
    assert "stopped at the length limit" in critic_prompt
    history = store.history(problem_id)
    first = history.attempts[0]
    check = verdicts.answer_check(history.critiques_for(first.id), first, "42")
    assert check.truncated and check.answer is None and check.verdict == Verdict.INCORRECT
    assert check.recorded_answer == "42"  # what the text says, kept apart from what was compared


def test_the_check_reports_the_answer_it_compared(store):
    """Stored answer 5, check computed on 7: the check's answer is the one it compared."""
    draft = "At first I get $\\boxed{5}$, but recounting gives 7.\n\n<ANSWER>7</ANSWER>"
    problem_id = import_draft(store, draft, "5", final_answer="5")
    history = store.history(problem_id)
    attempt = history.latest_attempt
    store.add_critique(
        Critique(attempt_id=attempt.id, verdict=Verdict.INCORRECT, source=CritiqueSource.CHECK,
                 model="math-verify", raw="answer check: '7' is not equivalent to the reference")
    )  # fmt: skip
    history = store.history(problem_id)
    check = verdicts.answer_check(history.critiques_for(attempt.id), attempt, "5")
    assert (check.answer, check.recorded_answer) == ("7", "5")
    # What the critic is told the check found names the compared answer, not the stored one.
    stored = verdicts.latest(history.critiques_for(attempt.id), CritiqueSource.CHECK)
    assert verdicts.check_result_of(stored, attempt).answer == "7"


def test_the_queue_shows_the_accepted_attempt_not_the_newest(store):
    problem_id, _ = store.add_problem(Problem(text="p", reference_answer="1"))
    good = store.add_attempt(Attempt(problem_id=problem_id, kind=AttemptKind.GENERATED, text="<ANSWER>1</ANSWER>"))
    store.add_critique(Critique(attempt_id=good, verdict=Verdict.CORRECT, source=CritiqueSource.CHECK))
    store.record_review(Review(problem_id=problem_id, decision=Decision.ACCEPTED, attempt_id=good, annotator="ann"))
    newer = store.add_attempt(Attempt(problem_id=problem_id, kind=AttemptKind.REVISED, text="<ANSWER>2</ANSWER>"))
    store.add_critique(Critique(attempt_id=newer, verdict=Verdict.INCORRECT, source=CritiqueSource.CHECK))
    item = queue_item(store, problem_id)
    assert (item.verdict, item.verdict_label) == (Standing.CORRECT, "✓ correct")
    assert exported(store, problem_id)["verified"] is True


# -- the rules themselves ----------------------------------------------------------------------------


def crit(source: CritiqueSource, verdict: Verdict, **fields) -> Critique:
    return Critique(source=source, verdict=verdict, **fields)


CHECK, LLM, IMPORTED = CritiqueSource.CHECK, CritiqueSource.LLM, CritiqueSource.IMPORTED
C, I, U = Verdict.CORRECT, Verdict.INCORRECT, Verdict.UNKNOWN  # noqa: E741 (the table below reads C / I / U)


@pytest.mark.parametrize(
    ("critiques", "standing", "is_verified"),
    [
        ([], None, None),
        ([crit(IMPORTED, C)], None, None),  # an imported verdict alone is no verdict
        ([crit(CHECK, C)], Standing.CORRECT, True),
        ([crit(CHECK, U), crit(LLM, I)], Standing.INCORRECT, False),
        ([crit(CHECK, U), crit(LLM, U)], Standing.UNKNOWN, None),
        ([crit(CHECK, C), crit(LLM, C)], Standing.CORRECT, True),
        ([crit(CHECK, I), crit(LLM, C)], Standing.DISPUTED, None),
        ([crit(LLM, I), crit(LLM, C)], Standing.CORRECT, True),  # the latest per source counts
        ([crit(CHECK, C), crit(IMPORTED, I)], Standing.CORRECT, True),  # untrusted: shown, not counted
    ],
)
def test_standing_and_verified(critiques, standing, is_verified):
    assert verdicts.summarise(critiques).standing == standing
    assert verdicts.verified(critiques) is is_verified


def test_the_critics_own_word_is_read_from_its_reply_even_in_old_rows():
    # The old loop stored the check's verdict in the critic's row and dropped its step.
    old_row = crit(LLM, C, raw=SAYS_NO, model="openai:gpt-4o")
    judgement = verdicts.critic_judgement(old_row)
    assert (judgement.verdict, judgement.first_error_step) == (Verdict.INCORRECT, "3")
    assert verdicts.said(judgement) == "✗ incorrect (step 3)"
    assert verdicts.objection_text(judgement) == "The critic (openai:gpt-4o) marks this attempt wrong (step 3)."


def test_the_experts_standing_decision_is_reported_with_its_reason():
    attempt = Attempt(id=7, kind=AttemptKind.GENERATED, text="x")
    reviews = [
        Review(problem_id=1, decision=Decision.ACCEPTED, attempt_id=7, annotator="ann", undone_at="2026-01-01"),
        Review(problem_id=1, decision=Decision.REJECTED, attempt_id=7, annotator="bo", note="circular in step 2"),
        Review(problem_id=1, decision=Decision.SKIPPED, attempt_id=7, annotator="cy"),
    ]
    expert = verdicts.summarise([], attempt, reviews).expert
    assert (expert.decision, expert.annotator, expert.reason, expert.on_this_attempt) == (
        Decision.REJECTED, "bo", "circular in step 2", True,
    )  # fmt: skip
    assert verdicts.summarise([], attempt, []).expert is None
