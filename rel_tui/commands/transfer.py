"""`rel-tui import` and `rel-tui export`."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from rel_core import exporters
from rel_core.importers import FORMATS, FieldMap, ImportOutcome, import_paths
from rel_core.importers.parallel import worker_count
from rel_core.models import ProblemState
from rel_core.store import Store
from rel_core.terminal_text import one_line
from rel_tui.context import CliContext, require_folder_of

DEFAULT_FIELDS = FieldMap()


def _names(values: tuple[str, ...], default: tuple[str, ...]) -> tuple[str, ...]:
    """Field names from repeated and/or comma-separated options; the defaults when none given."""
    names = tuple(name.strip() for value in values for name in value.split(",") if name.strip())
    return names or default


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="Input format; auto decides per file from its extension and content.",
)
@click.option(
    "--problem-field",
    multiple=True,
    help=f"Field with the problem text (default: {', '.join(DEFAULT_FIELDS.problem)}).",
)
@click.option(
    "--answer-field",
    multiple=True,
    help=f"Field with the reference answer (default: {', '.join(DEFAULT_FIELDS.answer)}).",
)
@click.option(
    "--solution-field",
    multiple=True,
    help="Field with the reference solution; its last \\boxed{} is the answer if no answer field is given "
    f"(default: {', '.join(DEFAULT_FIELDS.solution)}).",
)
@click.option(
    "--draft-field",
    multiple=True,
    help=f"Field with a worked solution to review (default: {', '.join(DEFAULT_FIELDS.draft)}).",
)
@click.option("--source", help="Source name recorded on every problem (default: from the file or folder name).")
@click.option("--strict", is_flag=True, help="Import nothing unless every file and row is valid.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes parsing files in parallel when there are many (default: one per CPU, up to 4).",
)
@click.pass_obj
def import_command(
    obj: CliContext,
    paths: tuple[Path, ...],
    fmt: str,
    problem_field: tuple[str, ...],
    answer_field: tuple[str, ...],
    solution_field: tuple[str, ...],
    draft_field: tuple[str, ...],
    source: str | None,
    strict: bool,
    workers: int | None,
) -> None:
    """Import problems and worked solutions from files or folders (walked recursively).

    Formats: REL/ReasonSet JSON (one object per file), markdown worked solutions (### Question: /
    ### Answer:), JSON Lines / JSON arrays / CSV with configurable field names. Content already in
    the database is not added again. Bad files and rows are reported as path:line: reason, the rest
    is imported, and the exit code is 1 if anything was skipped.
    """
    fields = FieldMap(
        problem=_names(problem_field, DEFAULT_FIELDS.problem),
        answer=_names(answer_field, DEFAULT_FIELDS.answer),
        solution=_names(solution_field, DEFAULT_FIELDS.solution),
        draft=_names(draft_field, DEFAULT_FIELDS.draft),
        source=source,
    )
    with obj.open_store(say_if_new=True) as store:
        outcome = import_paths(store, paths, fmt, fields, strict=strict, workers=workers or worker_count())
    # File names and data reach the terminal only through one_line: no escape sequences, one line each.
    for issue in outcome.errors:
        click.echo(one_line(issue), err=True)
    for warning in [*outcome.conflicts, *outcome.warnings]:
        click.echo(f"Warning: {one_line(warning)}", err=True)
    click.echo(one_line(_summary(outcome)))
    if outcome.skipped or not outcome.files:
        sys.exit(1)


def _summary(outcome: ImportOutcome) -> str:
    if not outcome.files and not outcome.errors:
        return "Nothing to import: no files of a known format found."
    if not outcome.committed:
        bad = "bad file or row" if outcome.skipped == 1 else "bad files or rows"
        return f"Nothing imported (--strict): {outcome.skipped} {bad} among {_plural(outcome.files, 'file')}."
    summary = outcome.summary
    conflicts = f" ({len(outcome.conflicts)} with another reference answer, kept as stored)" if outcome.conflicts else ""
    return (
        f"Read {_plural(outcome.files, 'file')}: {summary.problems_added} problems added, "
        f"{summary.problems_existing} already present{conflicts}, {summary.attempts_added} attempts added, "
        f"{outcome.skipped} skipped."
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@click.command("export")
@click.argument("out", type=click.Path(allow_dash=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(exporters.ALL_FORMATS),
    default="jsonl",
    show_default=True,
    help="openai/anthropic: chat fine-tuning JSONL; reasonset: REL-style JSON array; jsonl: every field; "
    "prm800k, trl-steps, dpo, kto: training JSONL; hf: a Hugging Face dataset folder (OUT is a folder); "
    "marks: the problems marked broken, one JSON line per mark.",
)
@click.option(
    "--status",
    type=click.Choice(exporters.STATUSES),
    help="accepted: only what an expert accepted; all: every problem with its accepted or latest attempt "
    "(default: accepted; all for prm800k, trl-steps, dpo, kto, hf).",
)
@click.option("--system", help="openai/anthropic (and dpo/kto --conversational): a system prompt on every example.")
@click.option("--include-critic-steps", is_flag=True, help="trl-steps/hf: also rows from the critic's first-wrong-step claims.")
@click.option("--conversational", is_flag=True, help="dpo/kto: the messages form instead of plain strings.")
@click.option("--license", "license_id", help="hf: the card's licence (default: cc-by-4.0 for the bundled data, else other).")
@click.option("--include-marked", is_flag=True, help="Also export problems marked broken (left out by default).")
@click.pass_obj
def export_command(
    obj: CliContext,
    out: str,
    fmt: str,
    status: str | None,
    system: str | None,
    include_critic_steps: bool,
    conversational: bool,
    license_id: str | None,
    include_marked: bool,
) -> None:
    """Export the dataset to OUT ('-' for standard output), written atomically.

    Reads the database only, so it works on a read-only file or directory. An existing OUT keeps its
    permission mode; a FIFO or device is refused; an interrupted export leaves OUT as it was.
    """
    status = status or exporters.default_status(fmt)
    if out != "-":
        require_folder_of(Path(out), "the export")  # a mistyped folder is an error, never created
    try:
        if fmt in exporters.FOLDER_FORMATS:
            count = _export_folder(obj, out, status, include_critic_steps, license_id, include_marked)
        else:
            if out != "-":
                exporters.export_target(Path(out))  # before anything opens it: a FIFO would block
            refuse_to_overwrite_a_database(out, obj.db_path)
            options = {
                "include_critic_steps": include_critic_steps,
                "conversational": conversational,
                "include_marked": include_marked,
            }
            with obj.open_store(read_only=True) as store, _interruptible(out):
                refuse_a_damaged_database(store)
                count = _export(store, out, fmt, status, system, options)
    except exporters.ExportError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{out}: cannot write ({exc.strerror or exc})") from None
    noun, what = "problems", f"{fmt}, {status}"
    if fmt in exporters.TRAINING_FORMATS or fmt in exporters.FOLDER_FORMATS:
        noun = "records"
    elif fmt == exporters.MARKS_FORMAT:
        noun, what = "marks", fmt  # every live mark, whatever the problem's state
    where = "standard output" if out == "-" else out
    hint = _why_nothing(obj, status) if count == 0 and fmt != exporters.MARKS_FORMAT else ""
    click.echo(f"Exported {count} {noun} ({what}) to {where}.{hint}", err=True)


def _why_nothing(obj: CliContext, status: str) -> str:
    """For an export of nothing: what the database holds instead, so '0' is not read as 'no work done'."""
    with obj.open_store(read_only=True) as store:
        counts = {state: n for state, n in store.counts(unmarked=True).items() if n}
    if not counts:
        return " The database holds no problems."
    held = ", ".join(f"{n} {str(state).replace('_', ' ')}" for state, n in counts.items())
    if status == "accepted" and not counts.get(ProblemState.ACCEPTED):
        return f" Nothing is accepted yet ({held}); --status all exports the latest attempts."
    return ""


def _export_folder(
    obj: CliContext, out: str, status: str, include_critic_steps: bool, license_id: str | None, include_marked: bool
) -> int:
    if out == "-":
        raise exporters.ExportError("--format hf writes a dataset folder, not standard output: give a folder path")
    with obj.open_store(read_only=True) as store, _interruptible(out):
        refuse_a_damaged_database(store)
        return exporters.export_folder(
            store, out, status, include_critic_steps=include_critic_steps, license_id=license_id, include_marked=include_marked
        )


class ExportInterrupted(click.ClickException):
    def __init__(self, out: str, signum: int):
        left = "standard output got part of it" if out == "-" else f"{out} was left as it was"
        super().__init__(f"export interrupted by {signal.Signals(signum).name}; {left}")
        self.exit_code = 128 + signum


@contextmanager
def _interruptible(out: str) -> Iterator[None]:
    """SIGTERM/SIGHUP (a closed SSH session) and Ctrl-C unwind the export like an error, so its
    temporary file is removed, and end it with one line."""
    signums = (signal.SIGTERM, signal.SIGHUP)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signum)

    previous = {signum: signal.signal(signum, interrupt) for signum in signums}
    try:
        yield
    except KeyboardInterrupt as exc:
        raise ExportInterrupted(out, exc.args[0] if exc.args else signal.SIGINT) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def refuse_a_damaged_database(store: Store) -> None:
    damage = store.damage()
    if damage:
        raise click.ClickException(
            f"{store.path}: the database is damaged (quick_check: {damage}); nothing was exported; restore a backup, "
            f'or salvage what is left with: sqlite3 {store.path} ".recover" | sqlite3 recovered.db'
        )


SQLITE_HEADER = b"SQLite format 3\x00"


def refuse_to_overwrite_a_database(out: str, db_path: Path) -> None:
    """An export written over the database (or any SQLite file) would destroy what it exports."""
    if out == "-":
        return
    target = Path(out).resolve()
    database = db_path.resolve()
    if target in {database, Path(f"{database}-wal"), Path(f"{database}-shm")}:
        raise click.ClickException(f"{out}: that is the database itself; choose another output file")
    try:
        with open(target, "rb") as existing:
            is_sqlite = existing.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return
    if is_sqlite:
        raise click.ClickException(f"{out}: is an SQLite database; refusing to overwrite it with an export")


def _export(store: Store, out: str, fmt: str, status: str, system: str | None, options: dict[str, bool]) -> int:
    if out != "-":
        return exporters.export_to_path(store, out, fmt, status, system, **options)
    try:
        count = exporters.write_export(store, sys.stdout, fmt, status, system, **options)
        sys.stdout.flush()
        return count
    except BrokenPipeError:  # `rel-tui export - | head`: the reader left, which is fine
        # Point stdout at /dev/null so the flush at exit does not fail a second time (Python docs' recipe).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)


COMMANDS: list[click.Command] = [import_command, export_command]
