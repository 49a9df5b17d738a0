"""The training exports (prm800k, trl-steps, dpo, kto, hf) on a database built by the real loop
against the loopback server, plus expert decisions, edits, step labels and rulings through the
core API."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from loop_helpers import Script, critic_json

from rel_core import exporters, labels
from rel_core.config import LoopSettings, ModelSettings, ProviderSettings, Settings
from rel_core.labels import Rating, RulingAspect
from rel_core.loop import LoopEngine
from rel_core.models import (
    Attempt,
    AttemptKind,
    Decision,
    Problem,
    ProblemState,
    Review,
)
from rel_core.providers.client import LLMClient
from rel_core.steps import split_steps
from rel_core.store import Store
from rel_tui.cli import main

GEN, CRITIC = "openai:train-gen", "openai:train-critic"
SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def draft(answer: str, product: str) -> str:
    return (
        f"I need six times seven.\n\nSo 6 x 7 = {product}.\n\nChecking by repeated addition agrees.\n\n<ANSWER>{answer}</ANSWER>"
    )


def settings(server) -> Settings:
    price = ModelSettings(input_per_million=1.0, output_per_million=2.0)
    return Settings(
        generator=GEN,
        critic=CRITIC,
        openai=ProviderSettings(base_url=server.openai_base_url, max_retries=2, timeout=10),
        models={GEN: price, CRITIC: price},
        loop=LoopSettings(max_iterations=1),
    )


class Built:
    """Ids of what the fixture made, by problem marker."""

    def __init__(self, store: Store):
        self.store = store
        self.problems: dict[str, int] = {}

    def attempts(self, marker: str):
        return self.store.history(self.problems[marker]).attempts

    def llm_critique(self, marker: str, index: int = 0):
        history = self.store.history(self.problems[marker])
        return [c for c in history.critiques if c.source == "llm"][index]


@pytest.fixture
async def built(tmp_path, llm_env) -> Built:
    script = Script()
    llm_env.respond_with(script)
    # [P1] wrong (36), the critic names step 2, the revision is right. [P2] right first time.
    # [P3] wrong (36) but the critic calls it correct: the answer check disagrees, and a ruling is
    # recorded by the loop; the revision is still wrong, the final rewrite right. [P4] wrong (41),
    # critic names step 2, revision right; the expert then edits the revision.
    script.on("[P1]", "generate", draft("36", "36")).on("[P1]", "critic", critic_json("incorrect", 2, "6 x 7 is 42"))
    script.on("[P1]", "revise", "Step 2 was wrong: 6 x 7 = 42.\n\n<ANSWER>42</ANSWER>")
    script.on("[P2]", "generate", draft("42", "42"))
    script.on("[P3]", "generate", draft("36", "36")).on("[P3]", "critic", critic_json("correct"))
    script.on("[P3]", "revise", "Still 36.\n\n<ANSWER>36</ANSWER>")
    script.on("[P3]", "final_rewrite", draft("42", "42"))
    script.on("[P4]", "generate", draft("41", "41")).on("[P4]", "critic", critic_json("incorrect", 2, "not 41"))
    script.on("[P4]", "revise", "6 x 7 = 42.\n\n<ANSWER>42</ANSWER>")
    store = Store(tmp_path / "rel.db")
    made = Built(store)
    loop_settings = settings(llm_env)
    engine = LoopEngine(store, LLMClient(loop_settings, store), loop_settings)
    try:
        for marker in ("[P1]", "[P2]", "[P3]", "[P4]"):
            made.problems[marker], _ = store.add_problem(
                Problem(
                    text=f"{marker} What is 6 x 7?",
                    reference_answer="42",
                    reference_solution="$6 \\cdot 7 = 42$",
                    source="loop-test",
                )
            )
            assert await engine.run_problem(made.problems[marker]) == ProblemState.AWAITING_REVIEW
    finally:
        engine.close()
        await engine.client.aclose()
    expert_actions(made)
    yield made
    store.close()


def review(store, problem_id, decision, attempt_id, who, seconds):
    store.record_review(
        Review(problem_id=problem_id, decision=decision, attempt_id=attempt_id, annotator=who, seconds_spent=seconds)
    )


def expert_actions(made: Built) -> None:
    store, p = made.store, made.problems
    g1, r1 = made.attempts("[P1]")
    labels.label_step(store, g1.id, 1, Rating.GOOD, "ana")
    labels.label_step(store, g1.id, 3, Rating.GOOD, "ana")
    labels.flag_step(store, g1.id, 2, "ana")
    labels.comment_step(store, g1.id, 2, "ana", "6 x 6, not 6 x 7")
    labels.mark_first_error(store, g1.id, 2, "ana")  # step 3's +1 is cleared
    critique = made.llm_critique("[P1]")
    labels.rule_on_critique(store, critique.id, RulingAspect.VERDICT, True, "ana")
    labels.rule_on_critique(store, critique.id, RulingAspect.FIRST_ERROR_STEP, True, "ana")
    review(store, p["[P1]"], Decision.REJECTED, g1.id, "bob", 15)  # bob rejected the first draft
    review(store, p["[P1]"], Decision.ACCEPTED, r1.id, "ana", 45)

    [a2] = made.attempts("[P2]")
    for step in split_steps(a2.text):
        labels.label_step(store, a2.id, step.number, Rating.GOOD, "ana")
    review(store, p["[P2]"], Decision.ACCEPTED, a2.id, "ana", 30)

    review(store, p["[P3]"], Decision.REJECTED, made.attempts("[P3]")[-1].id, "bob", 20)

    _, r4 = made.attempts("[P4]")
    edit = store.save_human_edit(
        p["[P4]"], "ana", r4.id, "Six sevens: 6 x 7 = 42, as 7 + 7 + 7 + 7 + 7 + 7 = 42.\n\n<ANSWER>42</ANSWER>"
    )
    review(store, p["[P4]"], Decision.ACCEPTED, edit, "ana", 80)


def export(store, fmt, **options) -> list[dict]:
    out = io.StringIO()
    count = exporters.write_export(store, out, fmt, options.pop("status", "all"), options.pop("system", None), **options)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert count == len(rows)
    return rows


# -- the loop's own hook -------------------------------------------------------------------------


async def test_the_loop_records_the_answer_checks_disagreement(built):
    critique = built.llm_critique("[P3]")
    [ruling] = labels.rulings(built.store, [critique.id])
    assert (ruling.source, ruling.aspect, ruling.agrees, ruling.label_source) == (
        "answer_check",
        "verdict",
        False,
        "answer_check",
    )
    assert labels.rulings(built.store, [built.llm_critique("[P4]").id]) == []  # check and critic agree there


# -- formats ---------------------------------------------------------------------------------------


async def test_prm800k(built):
    rows = export(built.store, "prm800k")
    assert len(rows) == 2  # the two drafts ana labelled
    g1_row, p2_row = rows
    assert set(g1_row) == {"labeler", "timestamp", "question", "label", "source"}
    assert g1_row["question"] == {"problem": "[P1] What is 6 x 7?", "ground_truth_answer": "42"}
    steps = g1_row["label"]["steps"]
    assert [s["completions"][0]["rating"] for s in steps] == [1, -1]  # up to the first error
    assert [s["completions"][0]["flagged"] for s in steps] == [False, True]
    assert [s["chosen_completion"] for s in steps] == [0, None] and all(s["human_completion"] is None for s in steps)
    assert steps[1]["completions"][0]["text"] == "So 6 x 7 = 36."
    assert g1_row["label"]["finish_reason"] == "found_error" and isinstance(g1_row["label"]["total_time"], int)
    assert g1_row["labeler"] == "ana" and g1_row["timestamp"].startswith("20")
    assert g1_row["source"]["label_source"] == "expert:ana" and g1_row["source"]["comments"] == {"2": "6 x 6, not 6 x 7"}
    assert p2_row["label"]["finish_reason"] == "solution"
    assert p2_row["label"]["total_time"] == 30_000  # ana's review of that attempt took 30 s
    assert [s["completions"][0]["rating"] for s in p2_row["label"]["steps"]] == [1, 1, 1, 1]


async def test_trl_steps_from_experts_and_with_the_critics_claims(built):
    expert_only = export(built.store, "trl-steps")
    assert [(r["labels"], r["label_source"]) for r in expert_only] == [([True, False], "expert:ana"), ([True] * 4, "expert:ana")]
    assert expert_only[0]["completions"] == ["I need six times seven.", "So 6 x 7 = 36."]
    assert set(expert_only[0]) == {"prompt", "completions", "labels", "label_source", "problem_id", "attempt_id"}
    with_critic = export(built.store, "trl-steps", include_critic_steps=True)
    critic_rows = [r for r in with_critic if r["label_source"].startswith("critic:")]
    # P1's draft has expert labels (they win); P3's critic said correct; P4's draft: the critic's step 2.
    [row] = critic_rows
    g4 = built.attempts("[P4]")[0]
    assert (row["attempt_id"], row["labels"], row["label_source"], row["ruled_by"]) == (
        g4.id,
        [True, False],
        f"critic:{CRITIC}",
        None,
    )
    assert len(row["completions"]) == len(row["labels"])


async def test_dpo_pairs_and_their_reasons(built):
    rows = export(built.store, "dpo")
    g1, r1 = built.attempts("[P1]")
    g4, r4, edit = built.attempts("[P4]")
    got = {
        (r["chosen_attempt_id"], r["rejected_attempt_id"]): (r["pair_reason"], r["chosen_source"], r["rejected_source"])
        for r in rows
    }
    assert got == {
        (r1.id, g1.id): ("accepted_vs_rejected", "expert:ana", "expert:bob"),
        (edit.id, r4.id): ("expert_edit", "expert:ana", "expert:ana"),
        (edit.id, g4.id): ("accepted_vs_incorrect", "expert:ana", "answer_check"),
    }
    first = rows[0]
    assert (first["prompt"], first["chosen"], first["rejected"]) == ("[P1] What is 6 x 7?", r1.text, g1.text)
    [talk] = [r for r in export(built.store, "dpo", conversational=True, system="Think.") if r["pair_reason"] == "expert_edit"]
    assert talk["prompt"] == [{"role": "system", "content": "Think."}, {"role": "user", "content": "[P4] What is 6 x 7?"}]
    assert talk["chosen"] == [{"role": "assistant", "content": edit.text}]
    assert talk["rejected"] == [{"role": "assistant", "content": r4.text}]


async def test_kto_labels_and_sources(built):
    rows = export(built.store, "kto")
    by_attempt = {r["attempt_id"]: (r["label"], r["label_source"]) for r in rows}
    g1, r1 = built.attempts("[P1]")
    g3, _, f3 = built.attempts("[P3]")
    g4, r4, edit = built.attempts("[P4]")
    assert by_attempt[g1.id] == (False, "expert:bob") and by_attempt[r1.id] == (True, "expert:ana")
    assert by_attempt[g4.id] == (False, "answer_check")  # no expert said anything about it
    assert g3.id not in by_attempt  # disputed: the check says wrong, the critic right: no label
    assert by_attempt[f3.id] == (False, "expert:bob")  # bob rejected the final rewrite
    assert by_attempt[r4.id] == (True, "answer_check") and by_attempt[edit.id] == (True, "expert:ana")
    assert all(set(r) == {"prompt", "completion", "label", "label_source", "problem_id", "attempt_id"} for r in rows)
    accepted_only = export(built.store, "kto", status="accepted")
    assert {r["problem_id"] for r in accepted_only} == {built.problems[m] for m in ("[P1]", "[P2]", "[P4]")}


# -- the Hugging Face folder -------------------------------------------------------------------------


def parse_yaml(text: str):
    """The block-YAML subset the card uses: maps, lists of scalars and of maps, plain scalars."""
    lines = [line for line in text.splitlines() if line.strip()]

    def scalar(value: str):
        return {"true": True, "false": False}.get(value, value)

    def block(index: int, indent: int):
        if lines[index].lstrip().startswith("- "):
            items = []
            while index < len(lines) and _indent(lines[index]) == indent and lines[index].lstrip().startswith("- "):
                rest = lines[index].lstrip()[2:]
                if ":" in rest:  # a map that starts on the dash's line
                    lines[index] = " " * (indent + 2) + rest
                    value, index = block(index, indent + 2)
                else:
                    value, index = scalar(rest), index + 1
                items.append(value)
            return items, index
        mapping = {}
        while index < len(lines) and _indent(lines[index]) == indent and not lines[index].lstrip().startswith("- "):
            key, _, value = lines[index].strip().partition(":")
            index += 1
            if value.strip():
                mapping[key] = scalar(value.strip())
            else:
                mapping[key], index = block(index, _indent(lines[index]))
        return mapping, index

    return block(0, 0)[0]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return parse_yaml(card.split("---\n")[1])


async def test_hf_folder_reads_back_with_pyarrow_and_a_valid_card(built, tmp_path):
    out = tmp_path / "hf"
    total = exporters.export_folder(built.store, out)
    meta = front_matter((out / "README.md").read_text())
    assert meta["license"] == "other" and meta["task_categories"] == ["text-generation"]
    assert meta["annotations_creators"] == ["expert-generated", "machine-generated"] and meta["size_categories"] == ["n<1K"]
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert set(configs) == {"sft", "steps", "dpo", "kto"} and configs["sft"]["default"] is True
    counts = 0
    for name, config in configs.items():
        [files] = config["data_files"]
        assert files["split"] == "train"
        [path] = list(out.glob(files["path"]))
        table = pq.read_table(path)
        counts += table.num_rows
        if name == "dpo":
            assert table.to_pylist() == [{k: r.get(k) for k in table.column_names} for r in export(built.store, "dpo")]
        if name == "steps":
            assert table.schema.field("labels").type.value_type == "bool"
            assert [r["labels"] for r in table.to_pylist()] == [[True, False], [True] * 4]
        if name == "sft":
            assert {r["label_source"] for r in table.to_pylist()} == {"expert:ana"} and table.num_rows == 3
    assert counts == total
    again = exporters.export_folder(built.store, out, license_id="mit")  # an earlier export is replaced
    assert again == total and front_matter((out / "README.md").read_text())["license"] == "mit"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left


def test_hf_refuses_a_folder_that_is_not_an_export_and_says_so_without_pyarrow(tmp_path, monkeypatch):
    with Store(tmp_path / "rel.db") as store:
        store.add_problem(Problem(text="x"))
    runner = CliRunner()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    result = runner.invoke(main, ["--db", str(tmp_path / "rel.db"), "export", str(mine), "--format", "hf"])
    assert result.exit_code == 1 and "not an earlier rel-tui hf export" in result.output
    assert (mine / "notes.txt").read_text() == "keep me"
    result = runner.invoke(main, ["--db", str(tmp_path / "rel.db"), "export", "-", "--format", "hf"])
    assert result.exit_code == 1 and "not standard output" in result.output
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if it were not installed
    result = runner.invoke(main, ["--db", str(tmp_path / "rel.db"), "export", str(tmp_path / "new"), "--format", "hf"])
    assert result.exit_code == 1 and result.output.strip().endswith("pip install 'rel-tui[hf]'")
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "new").exists()


async def test_cli_exports_training_formats(built, tmp_path):
    built.store.close()
    runner = CliRunner()
    out = tmp_path / "pairs.jsonl"
    result = runner.invoke(main, ["--db", str(built.store.path), "export", str(out), "--format", "dpo", "--conversational"])
    assert result.exit_code == 0, result.output
    assert "Exported 3 records (dpo, all)" in result.stderr
    assert all(isinstance(json.loads(line)["prompt"], list) for line in out.read_text().splitlines())


# -- the shipped samples -----------------------------------------------------------------------------


def test_samples_are_what_the_exporters_write(tmp_path):
    """samples/make_training_samples.py builds them from the bundled data and scripted labels."""
    sys.path.insert(0, str(SAMPLES))
    try:
        import make_training_samples
    finally:
        sys.path.remove(str(SAMPLES))
    fresh = tmp_path / "samples"
    make_training_samples.write_samples(tmp_path / "rel.db", fresh)
    for name in make_training_samples.FILES:
        shipped = [json.loads(line) for line in (SAMPLES / name).read_text().splitlines()]
        made = [json.loads(line) for line in (fresh / name).read_text().splitlines()]
        assert shipped and len(shipped) == len(made), name
        assert [sorted(r) for r in shipped] == [sorted(r) for r in made], name
        assert [r.get("labels") or r.get("label") for r in shipped] == [r.get("labels") or r.get("label") for r in made], name


def test_a_database_from_before_labels_exports_and_reports_read_only(tmp_path):
    """`export` and `report` open read-only and never migrate: a file without the m006 tables still works."""
    path = tmp_path / "old.db"
    with Store(path) as store:
        problem_id, _ = store.add_problem(Problem(text="What is 1+1?", reference_answer="2"))
        attempt_id = store.add_attempt(Attempt(problem_id=problem_id, kind=AttemptKind.GENERATED, text="2"))
        review(store, problem_id, Decision.ACCEPTED, attempt_id, "ana", 10)
        for table in ("critic_rulings", "step_labels", "label_actions"):
            store.conn.execute(f"drop table {table}")
        store.conn.execute("delete from _migrations where name = 'm006_step_labels_and_rulings'")
    with Store(path, read_only=True) as store:
        assert not labels.has_label_tables(store)
        assert export(store, "prm800k") == [] and export(store, "trl-steps", include_critic_steps=True) == []
        assert [r["label_source"] for r in export(store, "kto")] == ["expert:ana"]
    result = CliRunner().invoke(main, ["--db", str(path), "report", "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["annotators"][0]["items"] == 1
