"""The step rule: paragraphs and list items, blocks never split, headings join what follows."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rel_core.steps import numbered, split_steps, step_containing


def texts(text):
    return [step.text for step in split_steps(text)]


def test_paragraphs_are_steps():
    assert texts("First thoughts.\n\nSecond idea,\nstill second.\n\n\n<ANSWER>3</ANSWER>\n") == [
        "First thoughts.",
        "Second idea,\nstill second.",
        "<ANSWER>3</ANSWER>",
    ]


def test_list_items_are_steps_and_the_lead_in_too():
    draft = "Three ways in:\n1. Coordinates,\n   then intersect.\n2) Similar triangles.\n- Area ratios.\n\nI pick 2."
    assert texts(draft) == [
        "Three ways in:",
        "1. Coordinates,\n   then intersect.",
        "2) Similar triangles.",
        "- Area ratios.",
        "I pick 2.",
    ]


def test_display_math_and_fences_are_never_split():
    draft = "So\n$$\na = 1\n\nb = 2\n$$\nhence.\n\n```\nx\n\ny\n```\n\n\\[\n1\n\n\\]\nDone."
    assert texts(draft) == ["So\n$$\na = 1\n\nb = 2\n$$\nhence.", "```\nx\n\ny\n```", "\\[\n1\n\n\\]\nDone."]


def test_one_line_display_math_does_not_open_a_block():
    assert texts("$$x = 1$$\n\nnext") == ["$$x = 1$$", "next"]


def test_headings_join_the_next_step():
    assert texts("## Plan\n\nTry n = 1.\n\n### Check\nIt works.") == ["## Plan\n\nTry n = 1.", "### Check\nIt works."]
    assert texts("text\n\n# Trailing heading") == ["text", "# Trailing heading"]


def test_a_table_stays_in_its_step():
    draft = "| n | n^2 |\n|---|-----|\n| 1 | 1 |\n| 2 | 4 |\n\nSo the pattern holds."
    assert texts(draft) == ["| n | n^2 |\n|---|-----|\n| 1 | 1 |\n| 2 | 4 |", "So the pattern holds."]


def test_empty_and_blank():
    assert split_steps("") == [] and split_steps(" \n\t\n  ") == []


def test_offsets_and_numbers():
    draft = "\n\nalpha\r\n\r\nbeta gamma\n"
    steps = split_steps(draft)
    assert [s.number for s in steps] == [1, 2]
    assert all(draft[s.start : s.end] == s.text for s in steps)
    assert step_containing(steps, draft.index("gamma")).number == 2
    assert step_containing(steps, 0) is None


def test_numbered_for_prompts():
    assert numbered("a\n\n- b\n- c") == "[1] a\n\n[2] - b\n\n[3] - c"


lines = st.sampled_from(
    ["", " ", "text", "- item", "1. item", "$$", "\\[", "\\]", "```", "# h", "| a | b |", "|---|---|", "  cont"]
)


@settings(max_examples=300, deadline=2000)
@given(st.lists(lines, max_size=300).map("\n".join))
def test_steps_are_ordered_disjoint_slices(text):
    steps = split_steps(text)
    previous_end = 0
    for number, step in enumerate(steps, 1):
        assert step.number == number
        assert text[step.start : step.end] == step.text and step.text.strip()
        assert step.start >= previous_end
        previous_end = step.end
    # Nothing but whitespace lies outside the steps.
    outside = "".join(
        text[a:b] for a, b in zip([0] + [s.end for s in steps], [s.start for s in steps] + [len(text)], strict=True)
    )
    assert not outside.strip()


@settings(max_examples=20, deadline=3000)
@given(st.sampled_from(["-", "\n", " ", "$$\n", "\\[", "```\n", "#", "|", "1. "]), st.integers(50_000, 200_000))
def test_adversarial_runs_stay_fast(chunk, repeat):
    text = chunk * (repeat // len(chunk))
    split_steps(text)


async def test_the_critic_reads_the_steps_numbered_as_the_screen_shows_them(llm_env, tmp_path):
    """The critic's prompt numbers the draft by rel_core.steps, so its "step 2" is the screen's step 2."""
    from loop_helpers import Script, critic_json

    from rel_core.config import ProviderSettings, Settings
    from rel_core.loop import LoopEngine
    from rel_core.models import Attempt, AttemptKind, Problem, ProblemState
    from rel_core.providers.client import LLMClient
    from rel_core.store import Store

    script = Script().on("[S1]", "critic", critic_json("incorrect", 2, "Recheck the sum."))
    llm_env.respond_with(script)
    draft = "First I add.\n\n- 2 + 2 = 5\n- so 5\n\n<ANSWER>5</ANSWER>"
    with Store(tmp_path / "rel.db") as store:
        problem_id, _ = store.add_problem(
            Problem(text="[S1] What is 2 + 2?", reference_answer="4", state=ProblemState.AWAITING_REVIEW)
        )
        attempt_id = store.add_attempt(Attempt(problem_id=problem_id, kind=AttemptKind.IMPORTED, text=draft, final_answer="5"))
        openai = ProviderSettings(base_url=llm_env.openai_base_url, max_retries=0, timeout=10)
        settings = Settings(generator="openai:gen", critic="openai:critic", openai=openai)
        engine = LoopEngine(store, LLMClient(settings, store), settings)
        try:
            await engine.recritique(problem_id, attempt_id)
        finally:
            engine.close()
    critic_prompt = next(r.prompt for r in llm_env.requests if "marking a student's worked solution" in r.prompt)
    assert "[1] First I add.\n\n[2] - 2 + 2 = 5\n\n[3] - so 5\n\n[4] <ANSWER>5</ANSWER>" in critic_prompt
