"""The loop, through the real LLMClient and the loopback server: assertions on what the database holds."""

from __future__ import annotations

import asyncio

import pytest
from llm_server import Reply
from loop_helpers import Script, critic_json, solution

from rel_core.config import LoopSettings, ModelSettings, ProviderSettings, Settings
from rel_core.loop import LoopEngine
from rel_core.models import AttemptKind, CritiqueSource, Problem, ProblemState, Verdict
from rel_core.planner import NextStep, Step, plan_next
from rel_core.prompts import Templates
from rel_core.providers.base import ProviderError
from rel_core.providers.client import LLMClient

GEN, CRITIC = "openai:loop-gen", "openai:loop-critic"


def make_settings(server, **loop) -> Settings:
    price = ModelSettings(input_per_million=1.0, output_per_million=2.0)
    return Settings(
        generator=GEN,
        critic=CRITIC,
        openai=ProviderSettings(base_url=server.openai_base_url, max_retries=3, timeout=10),
        models={GEN: price, CRITIC: price},
        loop=LoopSettings(**loop),
    )


@pytest.fixture
def script(llm_server):
    script = Script()
    llm_server.respond_with(script)
    return script


@pytest.fixture
async def make_engine(store, llm_env):
    engines = []

    def make(**loop) -> LoopEngine:
        settings = make_settings(llm_env, **loop)
        engine = LoopEngine(store, LLMClient(settings, store), settings)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()
        await engine.client.aclose()


def add(store, marker, answer="42", solution_text=None, **fields) -> int:
    problem_id, _ = store.add_problem(
        Problem(
            text=f"{marker} {fields.pop('text', 'What is 6 x 7?')}",
            reference_answer=answer,
            reference_solution=solution_text or f"Six sevens are {answer}.",
            **fields,
        )
    )
    return problem_id


def calls(store, problem_id):
    return store.rows("select * from llm_calls where problem_id = ? order by id", [problem_id])


# -- the paths through the loop ---------------------------------------------------------------------


async def test_right_first_time_skips_the_critic(store, script, make_engine):
    problem_id = add(store, "[P1]")
    script.on("[P1]", "generate", Reply(solution("42"), input_tokens=120, output_tokens=30))
    state = await make_engine().run_problem(problem_id)

    assert state == ProblemState.AWAITING_REVIEW
    history = store.history(problem_id)
    [attempt] = history.attempts
    assert (attempt.kind, attempt.final_answer, attempt.iteration, attempt.temperature) == (AttemptKind.GENERATED, "42", 0, 1.0)
    assert (attempt.template, attempt.template_version) == ("generate", Templates()["generate"].version)
    assert attempt.model == GEN
    [check] = history.critiques
    assert (check.source, check.verdict, check.model) == (CritiqueSource.CHECK, Verdict.CORRECT, "math-verify")
    [call] = calls(store, problem_id)
    assert call["id"] == attempt.llm_call_id
    assert (call["purpose"], call["input_tokens"], call["output_tokens"]) == ("generate", 120, 30)
    assert call["cost_usd"] == pytest.approx((120 * 1.0 + 30 * 2.0) / 1e6)
    assert script.steps("[P1]") == ["generate"]
    problem = store.get_problem(problem_id)
    assert store.claimed_by(problem_id) is None and problem.state_detail is None


async def test_wrong_then_right_after_the_critics_hint(store, script, make_engine, llm_server):
    problem_id = add(store, "[P2]")
    hint = "Step 2 multiplies 6 by 6 instead of 7; redo that product."
    script.on("[P2]", "generate", solution("36", "6 x 6 = 36"))
    script.on("[P2]", "critic", critic_json("incorrect", 2, hint))
    script.on("[P2]", "revise", "Hold on, in step 2 I used 6 twice. 6 x 7 = 42. <ANSWER>42</ANSWER>")
    state = await make_engine().run_problem(problem_id)

    assert state == ProblemState.AWAITING_REVIEW
    history = store.history(problem_id)
    first, revised = history.attempts
    assert [a.kind for a in history.attempts] == [AttemptKind.GENERATED, AttemptKind.REVISED]
    assert (revised.parent_id, revised.iteration, revised.temperature) == (first.id, 1, pytest.approx(0.9))
    assert revised.hint == f"The first error is in step 2. {hint}"
    assert revised.template_version == Templates()["revise"].version
    assert revised.final_answer == "42" and revised.text.startswith(first.text.split("<ANSWER>")[0])
    assert [(c.attempt_id, c.source, c.verdict) for c in history.critiques] == [
        (first.id, CritiqueSource.CHECK, Verdict.INCORRECT),
        (first.id, CritiqueSource.LLM, Verdict.INCORRECT),
        (revised.id, CritiqueSource.CHECK, Verdict.CORRECT),
    ]
    llm = history.critiques[1]
    assert (llm.first_error_step, llm.error_description, llm.model) == ("2", hint, CRITIC)
    assert script.steps("[P2]") == ["generate", "critic", "revise"]
    # The critic was told the reference answer; the reviser saw the hint but never the answer.
    critic_request, revise_request = llm_server.requests[1], llm_server.requests[2]
    assert "42" in critic_request.prompt
    assert hint in revise_request.prompt and "42" not in revise_request.prompt.replace("[P2]", "")
    temperatures = [r.body.get("temperature") for r in llm_server.requests]
    assert temperatures[0] == 1.0 and temperatures[2] == pytest.approx(0.9)


async def test_never_right_goes_through_every_revision_and_the_rewrite_then_fails(store, script, make_engine, llm_server):
    problem_id = add(store, "[P3]", solution_text="Use the identity: 6 x 7 = 42.")
    script.on("[P3]", "generate", solution("40"))
    script.on("[P3]", "critic", critic_json("incorrect", 1, "Check the product."))
    script.on("[P3]", "revise", solution("41"), solution("43"))
    script.on("[P3]", "final_rewrite", solution("44"))
    state = await make_engine(max_iterations=2, temperature=0.8, temperature_decay=0.5).run_problem(problem_id)

    assert state == ProblemState.FAILED
    history = store.history(problem_id)
    assert [a.kind for a in history.attempts] == [
        AttemptKind.GENERATED,
        AttemptKind.REVISED,
        AttemptKind.REVISED,
        AttemptKind.FINAL_REWRITE,
    ]
    assert [a.temperature for a in history.attempts] == pytest.approx([0.8, 0.4, 0.2, 0.1])
    assert [a.iteration for a in history.attempts] == [0, 1, 2, 3]
    assert [a.parent_id for a in history.attempts[1:]] == [a.id for a in history.attempts[:-1]]
    assert all(history.critiques_for(a.id)[0].verdict == Verdict.INCORRECT for a in history.attempts)
    assert script.steps("[P3]") == ["generate", "critic", "revise", "critic", "revise", "critic", "final_rewrite", "critic"]
    rewrite_request = next(r for r in llm_server.requests if "Rewrite the worked solution" in r.prompt)
    assert "Use the identity: 6 x 7 = 42." in rewrite_request.prompt
    assert "final rewrite" in store.get_problem(problem_id).state_detail


async def test_final_rewrite_that_is_right_goes_to_review_after_clean_up(store, script, make_engine):
    problem_id = add(store, "[P4]")
    script.on("[P4]", "generate", solution("41"))
    script.on("[P4]", "critic", critic_json("incorrect", 1, "Check the product."))
    script.on("[P4]", "final_rewrite", solution("42"))
    script.on("[P4]", "cleanup", solution("42", "tidied"))
    state = await make_engine(max_iterations=0, cleanup=True).run_problem(problem_id)

    assert state == ProblemState.AWAITING_REVIEW
    kinds = [a.kind for a in store.history(problem_id).attempts]
    assert kinds == [AttemptKind.GENERATED, AttemptKind.FINAL_REWRITE, AttemptKind.CLEANED]
    assert script.steps("[P4]") == ["generate", "critic", "final_rewrite", "cleanup"]


# -- the critic's formats ------------------------------------------------------------------------------


async def test_critic_decides_free_text_answers_in_json(store, script, make_engine):
    problem_id = add(store, "[F1]", answer="Because the mitochondria make ATP", text="Why do cells need mitochondria?")
    script.on("[F1]", "generate", solution("they produce ATP for the cell"))
    script.on("[F1]", "critic", "```json\n" + critic_json("correct") + "\n```")
    assert await make_engine().run_problem(problem_id) == ProblemState.AWAITING_REVIEW
    check, llm = store.history(problem_id).critiques
    assert (check.source, check.verdict) == (CritiqueSource.CHECK, Verdict.UNKNOWN)
    assert (llm.source, llm.verdict) == (CritiqueSource.LLM, Verdict.CORRECT)


async def test_critic_in_rel_marker_format(store, script, make_engine):
    problem_id = add(store, "[F2]", answer="Osmosis moves water", text="What moves water into the cell?")
    script.on("[F2]", "generate", solution("diffusion of salt"))
    script.on(
        "[F2]",
        "critic",
        "**CORRECT:** No\n**ERROR_STEP:** 3\n**ERROR_DESCRIPTION:** Salt does not cross; think about what does.",
        "**CORRECT:** [Yes]\n**ERROR_STEP:** N/A",
    )
    script.on("[F2]", "revise", "Wait, salt does not cross the membrane. <ANSWER>osmosis of water</ANSWER>")
    assert await make_engine().run_problem(problem_id) == ProblemState.AWAITING_REVIEW
    critiques = [c for c in store.history(problem_id).critiques if c.source == CritiqueSource.LLM]
    assert [(c.verdict, c.first_error_step) for c in critiques] == [(Verdict.INCORRECT, "3"), (Verdict.CORRECT, None)]
    assert store.history(problem_id).attempts[1].hint.startswith("The first error is in step 3. Salt does not cross")


async def test_garbage_from_the_critic_is_unknown_and_not_verified(store, script, make_engine):
    problem_id = add(store, "[F3]", answer="Photosynthesis", text="What makes sugar in leaves?")
    script.on("[F3]", "generate", solution("chlorophyll magic"))
    script.on("[F3]", "critic", "Hmm, INACCURATE-ish but also kind of accurate?")
    script.on("[F3]", "revise", solution("the sun's energy"))
    script.on("[F3]", "final_rewrite", solution("sunlight"))
    state = await make_engine(max_iterations=1).run_problem(problem_id)

    history = store.history(problem_id)
    llm = [c for c in history.critiques if c.source == CritiqueSource.LLM]
    assert all(c.verdict == Verdict.UNKNOWN and c.raw.startswith("Hmm") for c in llm)
    # Unknown never counts as verified: revised, rewritten, and still not verified -> failed.
    assert [a.kind for a in history.attempts][:2] == [AttemptKind.GENERATED, AttemptKind.REVISED]
    assert history.attempts[1].hint.startswith("The final answer is not correct")
    assert state == ProblemState.FAILED


async def test_decisive_wrong_answer_keeps_the_checks_verdict(store, script, make_engine):
    problem_id = add(store, "[F4]")
    script.on("[F4]", "generate", solution("41"))
    script.on("[F4]", "critic", critic_json("correct", None, "Looks right to me."))  # the critic is wrong
    script.on("[F4]", "revise", solution("42"))
    assert await make_engine().run_problem(problem_id) == ProblemState.AWAITING_REVIEW
    llm = store.history(problem_id).critiques[1]
    assert (llm.source, llm.verdict) == (CritiqueSource.LLM, Verdict.INCORRECT)


async def test_critic_when_correct_asks_for_comments(store, script, make_engine):
    problem_id = add(store, "[F5]")
    script.on("[F5]", "generate", solution("42"))
    script.on("[F5]", "critic", critic_json("correct", None, "Step 3 could say why."))
    assert await make_engine(critic_when_correct=True).run_problem(problem_id) == ProblemState.AWAITING_REVIEW
    assert [(c.source, c.verdict) for c in store.history(problem_id).critiques] == [
        (CritiqueSource.CHECK, Verdict.CORRECT),
        (CritiqueSource.LLM, Verdict.CORRECT),
    ]


# -- provider errors -----------------------------------------------------------------------------------


async def test_429s_and_500s_are_retried_by_the_sdk(store, script, make_engine, llm_server):
    problem_id = add(store, "[E1]")
    llm_server.enqueue(Reply.rate_limited(5), Reply.server_error(500), Reply.server_error(503))
    script.on("[E1]", "generate", solution("42"))
    assert await make_engine().run_problem(problem_id) == ProblemState.AWAITING_REVIEW
    assert len(llm_server.requests) == 4
    assert len(store.history(problem_id).attempts) == 1


async def test_a_500_storm_errors_the_problem_and_a_retry_resumes_without_repeating(store, script, make_engine, llm_server):
    problem_id = add(store, "[E2]")
    script.on("[E2]", "generate", solution("41"))
    script.on("[E2]", "critic", Reply.server_error(500))
    engine = make_engine()
    assert await engine.run_problem(problem_id) == ProblemState.ERRORED
    problem = store.get_problem(problem_id)
    assert "\n" not in problem.state_detail and problem.state_detail
    assert store.claimed_by(problem_id) is None
    assert [a.kind for a in store.history(problem_id).attempts] == [AttemptKind.GENERATED]

    script.on("[E2]", "critic", critic_json("incorrect", 1, "Recheck."))
    script.on("[E2]", "revise", solution("42"))
    assert await engine.run_problem(problem_id) == ProblemState.AWAITING_REVIEW
    steps = script.steps("[E2]")
    assert steps.count("generate") == 1  # the committed generation was not asked for again
    assert steps[-2:] == ["critic", "revise"]


async def test_fatal_errors_stop_with_the_problem_back_in_the_queue(store, script, make_engine):
    problem_id = add(store, "[E3]")
    script.on("[E3]", "generate", Reply.auth_failed())
    with pytest.raises(ProviderError) as raised:
        await make_engine().run_problem(problem_id)
    assert raised.value.fatal
    problem = store.get_problem(problem_id)
    assert problem.state == ProblemState.PENDING and problem.state_detail


# -- resuming from the database ------------------------------------------------------------------------


def test_plan_next_derives_every_step_from_committed_rows(store):
    from rel_core.models import Attempt, Critique

    settings = Settings(loop=LoopSettings(max_iterations=1))
    problem_id = add(store, "[S1]")

    def plan() -> NextStep:
        return plan_next(store.history(problem_id), settings)

    def attempt(kind, iteration, answer):
        return store.add_attempt(
            Attempt(problem_id=problem_id, kind=kind, text=f"<ANSWER>{answer}</ANSWER>", iteration=iteration)
        )

    def critique(attempt_id, source, verdict):
        store.add_critique(Critique(attempt_id=attempt_id, source=source, verdict=verdict))

    assert plan().step == Step.GENERATE
    first = attempt(AttemptKind.GENERATED, 0, "41")
    assert (plan().step, plan().attempt.id) == (Step.CRITIQUE, first)
    critique(first, CritiqueSource.CHECK, Verdict.INCORRECT)
    assert plan().step == Step.CRITIQUE  # the critic's explanation is still owed
    critique(first, CritiqueSource.LLM, Verdict.INCORRECT)
    assert (plan().step, plan().iteration) == (Step.REVISE, 1)
    second = attempt(AttemptKind.REVISED, 1, "43")
    critique(second, CritiqueSource.CHECK, Verdict.INCORRECT)
    critique(second, CritiqueSource.LLM, Verdict.INCORRECT)
    assert (plan().step, plan().iteration) == (Step.FINAL_REWRITE, 2)
    third = attempt(AttemptKind.FINAL_REWRITE, 2, "42")
    critique(third, CritiqueSource.CHECK, Verdict.CORRECT)
    assert plan().step == Step.DONE


# -- regeneration and re-critique on demand -------------------------------------------------------------


async def test_regenerate_with_an_expert_hint_streams_and_persists(store, script, make_engine, llm_server):
    problem_id = add(store, "[R1]")
    script.on("[R1]", "generate", solution("41"))
    script.on("[R1]", "critic", critic_json("incorrect", 1, "Recheck."))
    script.on("[R1]", "revise", solution("43"), "Looking again at the carry: 6 x 7 = 42. <ANSWER>42</ANSWER>")
    script.on("[R1]", "final_rewrite", solution("44"))
    engine = make_engine(max_iterations=1)
    assert await engine.run_problem(problem_id) == ProblemState.FAILED
    first = store.history(problem_id).attempts[0]

    deltas: list[str] = []
    result = await engine.regenerate(problem_id, first.id, "Count six groups of seven.", on_delta=deltas.append)

    assert "".join(deltas).endswith("<ANSWER>42</ANSWER>")
    assert (result.attempt.kind, result.attempt.parent_id, result.attempt.hint) == (
        AttemptKind.REVISED,
        first.id,
        "Count six groups of seven.",
    )
    assert result.attempt.id == store.history(problem_id).attempts[-1].id
    assert (result.critique.source, result.critique.verdict) == (CritiqueSource.CHECK, Verdict.CORRECT)
    assert store.get_problem(problem_id).state == ProblemState.AWAITING_REVIEW
    assert "Count six groups of seven." in llm_server.requests[-1].prompt
    assert llm_server.requests[-1].stream


async def test_regenerate_fresh_and_recritique(store, script, make_engine):
    problem_id = add(store, "[R2]", answer="Because of osmosis", text="Why do raisins swell in water?")
    script.on("[R2]", "generate", solution("water moves in by osmosis"))
    script.on("[R2]", "critic", critic_json("correct"), critic_json("incorrect", 2, "Say why water moves."))
    engine = make_engine()
    result = await engine.regenerate(problem_id, None, None)
    assert result.attempt.kind == AttemptKind.GENERATED
    assert (result.critique.source, result.critique.verdict) == (CritiqueSource.LLM, Verdict.CORRECT)

    again = await engine.recritique(problem_id, result.attempt.id)
    assert (again.source, again.verdict, again.first_error_step) == (CritiqueSource.LLM, Verdict.INCORRECT, "2")
    assert len(store.history(problem_id).critiques_for(result.attempt.id)) == 4


async def test_cancelled_regeneration_writes_nothing(store, script, make_engine, llm_server):
    problem_id = add(store, "[R3]")
    script.on("[R3]", "generate", Reply(solution("42"), delay=5))
    engine = make_engine()
    task = asyncio.create_task(engine.regenerate(problem_id, None, "try again"))
    for _ in range(200):
        if llm_server.requests:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.history(problem_id).attempts == []
    assert store.get_problem(problem_id).state == ProblemState.PENDING


# -- references, experts' decisions, templates ------------------------------------------------------------


async def test_reference_answer_taken_from_the_boxed_reference_solution(store, script, make_engine):
    problem_id, _ = store.add_problem(Problem(text="[B1] What is 6 x 7?", reference_solution="Six sevens: \\boxed{42}."))
    script.on("[B1]", "generate", solution("42.0"))
    assert await make_engine().run_problem(problem_id) == ProblemState.AWAITING_REVIEW
    [check] = store.history(problem_id).critiques
    assert (check.source, check.verdict) == (CritiqueSource.CHECK, Verdict.CORRECT)
    assert script.steps("[B1]") == ["generate"]


async def test_the_loop_never_undoes_an_experts_decision(store, script, make_engine):
    problem_id = add(store, "[D1]", state=ProblemState.ACCEPTED)
    assert await make_engine().run_problem(problem_id) == ProblemState.ACCEPTED
    assert script.seen == [] and store.get_problem(problem_id).state == ProblemState.ACCEPTED


def test_template_dir_overrides_file_by_file_and_changes_the_version(tmp_path):
    bundled = Templates()
    (tmp_path / "generate.txt").write_text("Think aloud about {problem}. End with <ANSWER>x</ANSWER>.")
    custom = Templates(tmp_path)
    assert custom["generate"].version != bundled["generate"].version
    assert custom["revise"].version == bundled["revise"].version
    rendered = custom["generate"].render(problem="\\boxed{2} and {not_a_placeholder}")
    assert rendered == "Think aloud about \\boxed{2} and {not_a_placeholder}. End with <ANSWER>x</ANSWER>."


def test_a_template_missing_its_placeholders_is_refused(tmp_path):
    from rel_core.prompts import TemplateError

    (tmp_path / "revise.md").write_text("Revise {problem} please.")
    with pytest.raises(TemplateError, match=r"revise\.md: must contain \{attempt\}, \{hint\}"):
        Templates(tmp_path)
    with pytest.raises(TemplateError, match="not a directory"):
        Templates(tmp_path / "missing")


async def test_user_templates_are_used_and_recorded(store, script, make_engine, tmp_path, llm_server):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "generate.md").write_text("CUSTOM PROMPT. Solve the problem below: {problem}")
    problem_id = add(store, "[U1]")
    script.on("[U1]", "generate", solution("42"))
    await make_engine(template_dir=templates).run_problem(problem_id)
    [attempt] = store.history(problem_id).attempts
    assert attempt.template_version == Templates(templates)["generate"].version
    assert llm_server.requests[0].messages[-1]["content"].startswith("CUSTOM PROMPT.")


async def test_no_write_without_the_claim(store, script, make_engine):
    from rel_core.loop import LeaseLost

    problem_id = add(store, "[W1]")
    script.on("[W1]", "generate", solution("42"))
    assert store.claim(problem_id, "someone-else", ttl_seconds=60)
    engine = make_engine()
    engine.lease_owner = "me"
    with pytest.raises(LeaseLost):
        await engine.run_problem(problem_id)
    assert store.history(problem_id).attempts == []
    problem = store.get_problem(problem_id)
    assert problem.state == ProblemState.PENDING and store.claimed_by(problem_id) == "someone-else"


async def test_the_loop_speaks_anthropic_too(store, script, llm_env):
    settings = Settings(
        generator="anthropic:loop-gen",
        critic="anthropic:loop-critic",
        anthropic=ProviderSettings(max_retries=2, timeout=10),  # base URL from ANTHROPIC_BASE_URL
    )
    engine = LoopEngine(store, LLMClient(settings, store), settings)
    try:
        problem_id = add(store, "[A1]")
        script.on("[A1]", "generate", solution("41"))
        script.on("[A1]", "critic", critic_json("incorrect", 2, "Recount."))
        script.on("[A1]", "revise", solution("42"))
        assert await engine.run_problem(problem_id) == ProblemState.AWAITING_REVIEW
    finally:
        engine.close()
        await engine.client.aclose()
    assert {r.protocol for r in llm_env.requests} == {"anthropic"}
    history = store.history(problem_id)
    assert [a.model for a in history.attempts] == ["anthropic:loop-gen", "anthropic:loop-gen"]
    assert history.critiques[1].error_description == "Recount."


async def test_a_draft_cut_off_at_the_token_limit_is_revised_not_trusted(store, script, make_engine, llm_server):
    problem_id = add(store, "[T1]")
    cut_off = "First thoughts... so the answer is 42. Let me verify this by expanding the"
    script.on("[T1]", "generate", Reply(cut_off, finish_reason="length"))
    script.on("[T1]", "critic", critic_json("incorrect", 3, "Finish the verification, more briefly."))
    script.on("[T1]", "revise", solution("42"))
    assert await make_engine().run_problem(problem_id) == ProblemState.AWAITING_REVIEW
    history = store.history(problem_id)
    first, _revised = history.attempts
    check = history.critiques_for(first.id)[0]
    assert (check.source, check.verdict) == (CritiqueSource.CHECK, Verdict.INCORRECT)
    assert "token limit" in check.raw
    assert script.steps("[T1]") == ["generate", "critic", "revise"]
    assert "stopped at the length limit" in llm_server.requests[1].prompt


async def test_regenerating_a_decided_item_keeps_the_experts_decision(store, script, make_engine):
    problem_id = add(store, "[R4]")
    script.on("[R4]", "generate", solution("42"), solution("42", "again"))
    engine = make_engine()
    await engine.run_problem(problem_id)
    store.set_state(problem_id, ProblemState.ACCEPTED)
    result = await engine.regenerate(problem_id, None, "once more")
    assert result.attempt.kind == AttemptKind.GENERATED
    assert store.get_problem(problem_id).state == ProblemState.ACCEPTED


async def test_recritique_of_a_cut_off_draft_does_not_trust_its_answer(store, script, make_engine):
    problem_id = add(store, "[T2]")
    script.on("[T2]", "generate", Reply("So the answer is 42. Let me verify by", finish_reason="length"), solution("42"))
    script.on("[T2]", "critic", critic_json("incorrect", 1, "It stops before the check."))
    script.on("[T2]", "revise", solution("42"))
    engine = make_engine()
    await engine.run_problem(problem_id)
    cut_off = store.history(problem_id).attempts[0]
    again = await engine.recritique(problem_id, cut_off.id)
    checks = [c for c in store.history(problem_id).critiques_for(cut_off.id) if c.source == CritiqueSource.CHECK]
    assert [c.verdict for c in checks] == [Verdict.INCORRECT, Verdict.INCORRECT]
    assert again.source == CritiqueSource.LLM and again.verdict == Verdict.INCORRECT
