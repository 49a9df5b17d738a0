"""Getting datasets out, streamed from the store a problem at a time.

Formats (one item per problem; with status "accepted" only problems an expert accepted, and
only the attempt they accepted; with "all" every problem, with its accepted or latest attempt):

- openai: chat fine-tuning JSONL, {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]},
  with a leading system message when `system` is given.
- anthropic: the Claude fine-tuning JSONL (Amazon Bedrock's format): {"system"?: str,
  "messages": [{"role": "user", "content": str}, {"role": "assistant", "content": str}]}.
  Plain string contents, `system` only when given.
- reasonset: one JSON array of {"problem", "working_out", "provided_solution"} objects
  (provided_solution is the reference solution, or the reference answer when there is none),
  plus reference_answer, source, subject and level where known. The ReasonSet importer reads
  it back.
- jsonl: everything known, one object per line: id, problem, reference_answer, reference_solution,
  status, worked_solution, attempts, verified, annotator, edited, source, subject, level.
  `verified` is rel_core.verdicts.verified: true when the answer check and the LLM critic that
  decided say correct, false when they say incorrect, null when they disagree or none decided.

Training formats (rel_core.training_data; status "all" by default, since a rejected draft's labels
teach as much as an accepted one's): prm800k, trl-steps, dpo, kto as JSON Lines, and hf, a
Hugging Face dataset folder (rel_core.hf_dataset). Every label in them says where it came from:
`expert:<annotator>`, `critic:<model>` or `answer_check`.

Problems marked broken (rel_core.problem_marks) are left out of every format unless
`include_marked` is given; then the jsonl records carry their `marks`, and prm800k gives
`bad_problem` as the finish reason of the labeller who marked it. `marks` writes the live marks
themselves, one JSON line each with its problem, for whoever maintains the source dataset.

Chat formats skip problems with no attempt (there is nothing to train on). Files are written
to a temporary file beside the target and renamed into place, so a crash leaves no half file;
the target keeps its permission mode, and FIFOs and devices are refused.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from rel_core import problem_marks, training_data, verdicts
from rel_core.models import Attempt, AttemptKind, Decision, ProblemHistory, ProblemState
from rel_core.store import Store

TRAINING_FORMATS = ("prm800k", "trl-steps", "dpo", "kto")
FOLDER_FORMATS = ("hf",)
FORMATS = ("openai", "anthropic", "reasonset", "jsonl")  # the fine-tuning formats: each imports back
MARKS_FORMAT = "marks"  # the problems marked broken, as a list for the source dataset's maintainer
ALL_FORMATS = (*FORMATS, *TRAINING_FORMATS, *FOLDER_FORMATS, MARKS_FORMAT)
STATUSES = ("accepted", "all")
BUNDLED_LICENSE = "cc-by-4.0"  # dataset/README.md: the bundled problems' licence


def default_status(fmt: str) -> str:
    """accepted for the fine-tuning formats; all for the training formats, whose labels matter on
    rejected drafts too."""
    return "all" if fmt in TRAINING_FORMATS or fmt in FOLDER_FORMATS else "accepted"


def iter_histories(
    store: Store, status: str = "accepted", include_marked: bool = False
) -> Iterator[tuple[ProblemHistory, Attempt | None]]:
    """(history, the attempt to export) per problem, in id order, a page of ids at a time; problems
    marked broken only with `include_marked`."""
    states = [ProblemState.ACCEPTED] if status == "accepted" else None
    for problem_id in store.iter_problem_ids(states, unmarked=not include_marked):
        history = store.history(problem_id)
        if history is None:  # deleted between pages
            continue
        attempt = history.accepted_attempt
        if status == "accepted" and attempt is None:
            continue
        yield history, attempt or history.latest_attempt


def write_export(
    store: Store,
    out: TextIO,
    fmt: str = "jsonl",
    status: str = "accepted",
    system: str | None = None,
    *,
    include_critic_steps: bool = False,
    conversational: bool = False,
    include_marked: bool = False,
) -> int:
    """Write every item to `out`; returns how many were written."""
    if fmt not in ALL_FORMATS or fmt in FOLDER_FORMATS:
        raise ValueError(
            f"unknown export format {fmt!r}" if fmt not in ALL_FORMATS else f"{fmt} writes a folder: use export_folder"
        )
    if fmt == MARKS_FORMAT:
        return _write_lines(out, problem_marks.export_rows(store))
    if fmt in TRAINING_FORMATS:
        records = training_records(store, fmt, status, system, include_critic_steps, conversational, include_marked)
        return _write_lines(out, records)
    items = iter_histories(store, status, include_marked)
    if fmt == "reasonset":
        return _write_json_array(out, (reasonset_item(h, a) for h, a in items))
    if fmt == "jsonl":
        return _write_lines(out, (_with_marks(store, full_item(h, a), include_marked) for h, a in items))
    chat = openai_item if fmt == "openai" else anthropic_item
    return _write_lines(out, (chat(h, a, system) for h, a in items if a is not None))


def export_to_path(
    store: Store, path: str | Path, fmt: str = "jsonl", status: str = "accepted", system: str | None = None, **options: bool
) -> int:
    with atomic_writer(Path(path)) as out:
        return write_export(store, out, fmt, status, system, **options)


def training_records(
    store: Store,
    fmt: str,
    status: str = "all",
    system: str | None = None,
    include_critic_steps: bool = False,
    conversational: bool = False,
    include_marked: bool = False,
) -> Iterator[dict[str, Any]]:
    """The records of one training format, a problem at a time."""
    for history, _ in iter_histories(store, status, include_marked):
        item = training_data.load_item(store, history)
        if fmt == "prm800k":
            yield from training_data.prm800k_records(item)
        elif fmt == "trl-steps":
            yield from training_data.trl_step_records(item, include_critic_steps)
        elif fmt == "dpo":
            yield from training_data.dpo_records(item, conversational, system)
        elif fmt == "kto":
            yield from training_data.kto_records(item, conversational, system)
        else:
            raise ValueError(f"not a training format: {fmt!r}")


def export_folder(
    store: Store,
    path: str | Path,
    status: str = "all",
    *,
    include_critic_steps: bool = False,
    license_id: str | None = None,
    include_marked: bool = False,
) -> int:
    """The hf dataset folder (rel_core.hf_dataset); returns the rows written over every config.
    The licence defaults to the bundled data's when every problem is bundled, else `other`."""
    from rel_core import hf_dataset

    rows: dict[str, list[dict[str, Any]]] = {config: [] for config in hf_dataset.CONFIGS}
    sources: set[str] = set()
    for history, _ in iter_histories(store, status, include_marked):
        item = training_data.load_item(store, history)
        sources.add(history.problem.source or "unknown")
        rows["sft"] += training_data.sft_records(item)
        rows["steps"] += training_data.trl_step_records(item, include_critic_steps)
        rows["dpo"] += training_data.dpo_records(item)
        rows["kto"] += training_data.kto_records(item)
    if license_id is None:
        license_id = BUNDLED_LICENSE if sources == {"bundled"} else "other"
    return hf_dataset.write_folder(Path(path), rows, license_id, sources)


class ExportError(Exception):
    """The export target cannot be used; the message is one line."""


TEMP_MARK = ".rel-export-"  # in every temporary file's name, so a killed export's leftover is recognised


def export_target(path: Path) -> Path:
    """The file to write: a symlink's target (the link is kept), never a FIFO or device (opening one
    would wait for a reader, or write into the device)."""
    target = path.resolve() if path.is_symlink() else path
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return target
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
        raise ExportError(f"{path}: is {kind}, not a regular file; export writes files (use - for standard output)")
    return target


@contextmanager
def atomic_writer(path: Path) -> Iterator[TextIO]:
    """A text file that appears at `path` only once it is completely written, with the mode the
    file it replaces had. The temporary file beside it is removed if the write fails or is
    interrupted; one left by a killed export is removed by the next export to the same target."""
    path = export_target(path)
    if not os.path.lexists(path.parent):  # a mistyped folder (or a link's) is an error, never created
        raise ExportError(f"{path.parent}: no such folder; create it first")
    remove_stale_temporaries(path)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~current_umask()
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TEMP_MARK}{os.getpid()}-", suffix=".tmp")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held while writing: tells a later export this file is in use
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
            os.chmod(temp_name, mode)  # mkstemp makes 0600
            os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove temporary files of earlier exports to `path` whose process is gone (kill -9, a reboot).
    A file is stale when the pid in its name is not running here and no one holds its lock."""
    prefix = f".{path.name}{TEMP_MARK}"
    removed: list[Path] = []
    try:
        entries = [
            e
            for e in os.scandir(path.parent)
            if e.name.startswith(prefix) and e.name.endswith(".tmp") and e.is_file(follow_symlinks=False)
        ]
    except OSError:
        return removed
    for entry in entries:
        pid = entry.name[len(prefix) :].partition("-")[0]
        if pid.isdigit() and not _running(int(pid)) and _unlocked(Path(entry.path)):
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _unlocked(path: Path) -> bool:
    """No process holds the file's lock (an export on another host over a shared filesystem may)."""
    try:
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW), "rb") as file:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def current_umask() -> int:
    """The process's umask (reading it means setting it: put straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_lines(out: TextIO, items: Iterator[dict[str, Any]]) -> int:
    count = 0
    for item in items:
        out.write(json.dumps(item, ensure_ascii=False) + "\n")
        count += 1
    return count


def _write_json_array(out: TextIO, items: Iterator[dict[str, Any]]) -> int:
    """A JSON array written element by element, so nothing is held in memory."""
    count = 0
    out.write("[")
    for item in items:
        out.write(",\n  " if count else "\n  ")
        out.write(json.dumps(item, ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def openai_item(history: ProblemHistory, attempt: Attempt, system: str | None = None) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    messages += [
        {"role": "user", "content": history.problem.text},
        {"role": "assistant", "content": attempt.text},
    ]
    return {"messages": messages}


def anthropic_item(history: ProblemHistory, attempt: Attempt, system: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"system": system} if system else {}
    item["messages"] = [
        {"role": "user", "content": history.problem.text},
        {"role": "assistant", "content": attempt.text},
    ]
    return item


def reasonset_item(history: ProblemHistory, attempt: Attempt | None) -> dict[str, Any]:
    problem = history.problem
    item = {
        "problem": problem.text,
        "working_out": attempt.text if attempt else "",
        "provided_solution": problem.reference_solution or problem.reference_answer or "",
    }
    # Not in REL's files, but read back by the importer so a round trip keeps them.
    extras = {
        "reference_answer": problem.reference_answer,
        "source": problem.source,
        "subject": problem.subject,
        "level": problem.level,
    }
    item.update((key, value) for key, value in extras.items() if value is not None)
    return item


def full_item(history: ProblemHistory, attempt: Attempt | None) -> dict[str, Any]:
    problem = history.problem
    item: dict[str, Any] = {
        "id": problem.id,
        "problem": problem.text,
        "reference_answer": problem.reference_answer,
        "reference_solution": problem.reference_solution,
        "status": str(problem.state),
        "worked_solution": attempt.text if attempt else None,
        "attempts": len(history.attempts),
        "verified": verdicts.verified(history.critiques_for(attempt.id)) if attempt else None,
        "annotator": _annotator(history),
        "edited": bool(attempt and attempt.kind == AttemptKind.HUMAN_EDIT),
        "source": problem.source,
        "subject": problem.subject,
        "level": problem.level,
    }
    decisions = _decisions(history)
    if len({d["annotator"] for d in decisions}) > 1:  # a team item: every annotator's decision
        item["decisions"] = decisions
    return item


def _with_marks(store: Store, item: dict[str, Any], include_marked: bool) -> dict[str, Any]:
    """An included marked problem's record says so: its live marks, in `marks`."""
    marks = problem_marks.live_marks(store, item["id"]) if include_marked else []
    if marks:
        item["marks"] = [m.model_dump(include={"kind", "note", "annotator", "created_at"}, mode="json") for m in marks]
    return item


def _decisions(history: ProblemHistory) -> list[dict[str, Any]]:
    """Every annotator's live decision (several on overlap items; role `adjudicated` for the final word)."""
    return [
        {"annotator": r.annotator, "decision": str(r.decision), "attempt_id": r.attempt_id, "note": r.note, "role": r.role}
        for r in history.reviews
        if r.undone_at is None and r.decision != Decision.SKIPPED
    ]


def _annotator(history: ProblemHistory) -> str | None:
    """Who made the standing decision: an adjudicator's final word, else the latest live accept, else the latest live review."""
    if history.adjudicated is not None:
        return history.adjudicated.annotator
    live = [r for r in history.reviews if r.undone_at is None]
    accepted = [r for r in live if r.decision == Decision.ACCEPTED]
    chosen = (accepted or live)[-1:]
    return chosen[0].annotator if chosen else None
