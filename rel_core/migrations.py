"""Numbered schema migrations, applied in order on every open.

Each migration runs once per database and is recorded in `_migrations`. Never edit a
migration that has shipped: add a new one.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

from .models import utcnow

Migration = Callable[[sqlite_utils.Database], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


def applied(db: sqlite_utils.Database) -> set[str]:
    if "_migrations" not in db.table_names():
        return set()
    return {row["name"] for row in db.query("select name from _migrations")}


def pending(db: sqlite_utils.Database) -> list[Migration]:
    done = applied(db)
    return [fn for fn in MIGRATIONS if fn.__name__ not in done]


class SchemaError(Exception):
    """A file this version must not touch (a newer rel-tui's, or another program's); one line."""


def check_schema(db: sqlite_utils.Database) -> None:
    """Refuse a database from a newer rel-tui (it has migrations this one does not know) and an
    SQLite file that is not rel-tui's (other tables and no rel-tui migrations), before anything is written."""
    foreign = SchemaError("not a rel-tui database (its _migrations table is another program's); use a new file with --db")
    tables = db.table_names()
    if "_migrations" in tables and "name" not in db["_migrations"].columns_dict:
        raise foreign
    done = applied(db)
    if not done:
        others = [name for name in tables if name != "_migrations" and not name.startswith("sqlite_")]
        if others:
            shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
            raise SchemaError(
                f"not a rel-tui database (it has tables {shown} and no rel-tui migrations); "
                "rel-tui will not add its tables to it: use a new file with --db"
            )
        return
    if MIGRATIONS[0].__name__ not in done:
        raise foreign
    unknown = done - {fn.__name__ for fn in MIGRATIONS}
    if unknown:
        raise SchemaError(
            f"made by a newer rel-tui: schema version {len(done)}, this rel-tui knows up to version {len(MIGRATIONS)} "
            f"(unknown: {', '.join(sorted(unknown)[:3])}); upgrade rel-tui to open it"
        )


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply every migration not yet applied; returns the names applied now.

    Each migration and its `_migrations` row commit together (SQLite DDL is transactional), so an
    interrupted upgrade leaves the file at the previous version, never half-way.
    """
    check_schema(db)
    db.execute("create table if not exists _migrations (name text primary key, applied_at text)")
    ran = []
    for fn in pending(db):
        db.execute("begin immediate")
        try:
            fn(db)
            db.execute("insert into _migrations (name, applied_at) values (?, ?)", [fn.__name__, utcnow()])
        except BaseException:
            db.execute("rollback")
            raise
        db.execute("commit")
        ran.append(fn.__name__)
    return ran


def create_fts(db: sqlite_utils.Database, table: str, column: str) -> None:
    """FTS5 index kept in sync by triggers, as sqlite-utils' enable_fts builds it, but statement by
    statement: enable_fts uses executescript, which commits and would break the migration's transaction."""
    fts = f"{table}_fts"
    db.execute(f"create virtual table [{fts}] using FTS5 ([{column}], content=[{table}])")
    db.execute(
        f"create trigger [{table}_ai] after insert on [{table}] begin "
        f"insert into [{fts}] (rowid, [{column}]) values (new.rowid, new.[{column}]); end"
    )
    db.execute(
        f"create trigger [{table}_ad] after delete on [{table}] begin "
        f"insert into [{fts}] ([{fts}], rowid, [{column}]) values ('delete', old.rowid, old.[{column}]); end"
    )
    db.execute(
        f"create trigger [{table}_au] after update on [{table}] begin "
        f"insert into [{fts}] ([{fts}], rowid, [{column}]) values ('delete', old.rowid, old.[{column}]); "
        f"insert into [{fts}] (rowid, [{column}]) values (new.rowid, new.[{column}]); end"
    )


@migration
def m001_initial(db: sqlite_utils.Database) -> None:
    # One row per distinct problem (by hash of its text). `state` is the single source of
    # truth for where the problem is in the pipeline; claims stop two workers sharing it.
    db.table("problems").create(
        {
            "id": int,
            "hash": str,
            "text": str,
            "reference_answer": str,
            "reference_solution": str,
            "source": str,
            "subject": str,
            "level": str,
            "tags": str,
            "state": str,
            "state_detail": str,
            "claimed_by": str,
            "claim_expires": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"hash", "text", "state"},
        defaults={"state": "pending", "tags": "[]"},
    )
    db.table("problems").create_index(["hash"], unique=True)
    db.table("problems").create_index(["state", "id"])
    create_fts(db, "problems", "text")

    # Every call to an LLM, successful or not, with what it cost. Never holds API keys.
    db.table("llm_calls").create(
        {
            "id": int,
            "problem_id": int,
            "provider": str,
            "model": str,
            "purpose": str,
            "request": str,
            "response": str,
            "input_tokens": int,
            "output_tokens": int,
            "tokens_estimated": int,
            "latency_ms": float,
            "cost_usd": float,
            "finish_reason": str,
            "error": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("problem_id", "problems", "id")],
    )
    db.table("llm_calls").create_index(["problem_id"])

    # Every draft of a worked solution: generated, revised, rewritten, edited by an expert or imported.
    db.table("attempts").create(
        {
            "id": int,
            "problem_id": int,
            "parent_id": int,
            "kind": str,
            "text": str,
            "hash": str,
            "final_answer": str,
            "model": str,
            "template": str,
            "template_version": str,
            "temperature": float,
            "iteration": int,
            "hint": str,
            "llm_call_id": int,
            "created_at": str,
        },
        pk="id",
        not_null={"problem_id", "kind", "text"},
        foreign_keys=[
            ("problem_id", "problems", "id"),
            ("parent_id", "attempts", "id"),
            ("llm_call_id", "llm_calls", "id"),
        ],
    )
    db.table("attempts").create_index(["problem_id", "id"])

    # A judgement on one attempt: from the answer check, an LLM critic, an expert or imported data.
    db.table("critiques").create(
        {
            "id": int,
            "attempt_id": int,
            "verdict": str,
            "first_error_step": str,
            "error_description": str,
            "source": str,
            "model": str,
            "raw": str,
            "llm_call_id": int,
            "created_at": str,
        },
        pk="id",
        not_null={"attempt_id", "verdict", "source"},
        foreign_keys=[("attempt_id", "attempts", "id"), ("llm_call_id", "llm_calls", "id")],
    )
    db.table("critiques").create_index(["attempt_id", "id"])

    # An expert's decision. Undo marks a review undone rather than deleting it.
    db.table("reviews").create(
        {
            "id": int,
            "problem_id": int,
            "decision": str,
            "attempt_id": int,
            "annotator": str,
            "seconds_spent": float,
            "note": str,
            "previous_state": str,
            "undone_at": str,
            "created_at": str,
        },
        pk="id",
        not_null={"problem_id", "decision", "annotator"},
        foreign_keys=[("problem_id", "problems", "id"), ("attempt_id", "attempts", "id")],
    )
    db.table("reviews").create_index(["problem_id", "id"])


@migration
def m002_edit_drafts(db: sqlite_utils.Database) -> None:
    # Unsaved expert edits, autosaved so a dropped SSH session loses nothing; one per annotator.
    db.table("edit_drafts").create(
        {
            "problem_id": int,
            "annotator": str,
            "attempt_id": int,
            "text": str,
            "updated_at": str,
        },
        pk=("problem_id", "annotator"),
        foreign_keys=[("problem_id", "problems", "id"), ("attempt_id", "attempts", "id")],
    )


@migration
def m003_fts_reindex_on_text_change_only(db: sqlite_utils.Database) -> None:
    # Claims, lease renewals and state changes update `problems` all the time; the FTS trigger
    # from m001 re-indexed the (unchanged) text on every one of them, five times the cost of the
    # update itself. Re-index only when the text changes.
    db.execute("drop trigger if exists problems_au")
    db.execute(
        "create trigger problems_au after update of text on problems begin "
        "insert into problems_fts (problems_fts, rowid, text) values ('delete', old.rowid, old.text); "
        "insert into problems_fts (rowid, text) values (new.rowid, new.text); "
        "end"
    )


@migration
def m004_claim_holders(db: sqlite_utils.Database) -> None:
    # Who holds a claim (rel_core/claims.py): a readable label, and the host, pid and process
    # start time that let a restarted runner or TUI on the same host take a dead holder's claims
    # over at once instead of waiting for the lease to run out.
    for column, kind in (("claim_label", str), ("claim_host", str), ("claim_pid", int), ("claim_started", int)):
        db.table("problems").add_column(column, kind)
    # Only claimed rows: finding the claims of dead holders, or held by others, scans just those.
    db.execute("create index problems_claimed on problems (claim_host, claim_pid) where claimed_by is not null")


@migration
def m005_reasoning(db: sqlite_utils.Database) -> None:
    # Reasoning text that servers send apart from the answer (vLLM/llama.cpp `reasoning_content`,
    # Ollama `reasoning`, Anthropic thinking): kept beside the answer, never mixed into it.
    db.execute("alter table llm_calls add column reasoning text")
    db.execute("alter table attempts add column reasoning text")


@migration
def m006_step_labels_and_rulings(db: sqlite_utils.Database) -> None:
    # One expert keystroke on one attempt (rate a step, mark the first error, flag, comment, rule on
    # a critique): the unit that undo takes back. Undo sets `undone_at`; nothing is deleted, so
    # what an expert did and took back stays on record.
    db.execute(
        "create table label_actions ("
        "id integer primary key, "
        "attempt_id integer not null references attempts(id), "
        "annotator text not null, "
        "kind text not null check (kind in ('rate', 'first_error', 'flag', 'comment', 'rule')), "
        "created_at text not null, "
        "undone_at text)"
    )
    db.execute("create index label_actions_by_annotator on label_actions (annotator, id)")
    db.execute("create index label_actions_by_attempt on label_actions (attempt_id, id)")
    # Per-step labels (PRM800K's -1/0/+1 rating, a flag, a comment), one row per step an action
    # touched. A step is its number by rel_core.steps plus the hash of its text, so a label never
    # moves to other text: a row whose hash no longer matches that step is stale, not applied.
    # `field` says which of rating / flagged / comment the row sets; a null rating clears one.
    db.execute(
        "create table step_labels ("
        "id integer primary key, "
        "action_id integer not null references label_actions(id), "
        "attempt_id integer not null references attempts(id), "
        "step integer not null check (step >= 1), "
        "step_hash text not null, "
        "field text not null check (field in ('rating', 'flagged', 'comment')), "
        "rating integer check (rating in (-1, 0, 1)), "
        "flagged integer check (flagged in (0, 1)), "
        "comment text)"
    )
    db.execute("create index step_labels_by_attempt on step_labels (attempt_id, step, id)")
    db.execute("create index step_labels_by_action on step_labels (action_id)")
    # Rulings on an LLM critique: does its verdict, and its first wrong step, stand? From an expert
    # (with the action that made it, so it can be undone) or from the answer check, recorded
    # automatically when the check's verdict contradicts the critic's own. This is what the
    # report's precision, recall and step accuracy of each critic are measured against.
    db.execute(
        "create table critic_rulings ("
        "id integer primary key, "
        "critique_id integer not null references critiques(id), "
        "attempt_id integer not null references attempts(id), "
        "aspect text not null check (aspect in ('verdict', 'first_error_step')), "
        "agrees integer not null check (agrees in (0, 1)), "
        "correct_step integer check (correct_step >= 1), "
        "source text not null check (source in ('expert', 'answer_check')), "
        "annotator text, "
        "action_id integer references label_actions(id), "
        "check_critique_id integer references critiques(id), "
        "created_at text not null)"
    )
    db.execute("create index critic_rulings_by_critique on critic_rulings (critique_id, id)")
    db.execute("create index critic_rulings_by_attempt on critic_rulings (attempt_id)")
    db.execute("create index critic_rulings_by_action on critic_rulings (action_id)")
    # The answer check rules once per (critique, check): re-running the hook records nothing twice.
    db.execute(
        "create unique index critic_rulings_check_once on critic_rulings (critique_id, check_critique_id) "
        "where source = 'answer_check'"
    )


@migration
def m007_cached_tokens(db: sqlite_utils.Database) -> None:
    # Prompt caching: of a call's input tokens, those read from the provider's prompt cache
    # (OpenAI cached_tokens, Anthropic cache_read_input_tokens) and those written to it (Anthropic
    # cache_creation_input_tokens). They are priced differently; null when the server said nothing.
    db.execute("alter table llm_calls add column cached_input_tokens integer")
    db.execute("alter table llm_calls add column cache_write_tokens integer")


@migration
def m008_batches(db: sqlite_utils.Database) -> None:
    # Provider batches (`--auto --batch`, rel_core/batch.py). A batch and every request in it are
    # written BEFORE it is submitted, so a run killed at any moment can tell what may be live at the
    # provider: it collects those batches later and never sends their requests again.
    # state: submitting (written; the provider may or may not have it) -> submitted -> collected,
    # or not_sent (it never reached the provider) / failed (the provider refused it).
    db.table("batches").create(
        {
            "id": int,
            "provider": str,
            "model": str,  # the model spec, provider:model
            "base_url": str,  # where it went, without credentials
            "state": str,
            "provider_batch_id": str,
            "input_file_id": str,  # OpenAI: the uploaded JSONL (finds a batch whose id was never written)
            "provider_status": str,  # as the provider last said (validating, in_progress, ended, ...)
            "request_count": int,
            "counts": str,  # JSON: the provider's request counts, last seen
            "error": str,
            "created_at": str,
            "submitted_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"provider", "model", "state"},
    )
    db.table("batches").create_index(["state"])
    # One request of a batch: its custom_id names the problem step it is for (the attempt it works on).
    # state: live -> succeeded | errored | expired | canceled | stale (the problem moved on meanwhile).
    db.table("batch_requests").create(
        {
            "id": int,
            "batch_id": int,
            "custom_id": str,
            "problem_id": int,
            "step": str,
            "attempt_id": int,
            "iteration": int,
            "purpose": str,
            "state": str,
            "llm_call_id": int,
            "error": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"batch_id", "custom_id", "problem_id", "step", "state"},
        foreign_keys=[("batch_id", "batches", "id"), ("problem_id", "problems", "id"), ("llm_call_id", "llm_calls", "id")],
    )
    db.table("batch_requests").create_index(["custom_id"], unique=True)
    db.table("batch_requests").create_index(["batch_id"])
    db.table("batch_requests").create_index(["problem_id", "state"])


@migration
def m009_search_attempts_and_critiques(db: sqlite_utils.Database) -> None:
    # The queue's text search covers what the expert reads, not just the problem: the drafts, and
    # the critics' explanations (`error_description`) and full replies (`raw`). External-content
    # FTS5 tables, kept in sync by triggers and filled from the rows already there.
    create_fts(db, "attempts", "text")
    db.execute("drop trigger attempts_au")  # as m003: re-index only when the text itself changes
    db.execute(
        "create trigger attempts_au after update of text on attempts begin "
        "insert into attempts_fts (attempts_fts, rowid, text) values ('delete', old.rowid, old.text); "
        "insert into attempts_fts (rowid, text) values (new.rowid, new.text); end"
    )
    db.execute("insert into attempts_fts (attempts_fts) values ('rebuild')")
    db.execute("create virtual table critiques_fts using FTS5 (error_description, raw, content=critiques)")
    new = "new.rowid, new.error_description, new.raw"
    old = "'delete', old.rowid, old.error_description, old.raw"
    columns = "rowid, error_description, raw"
    db.execute(
        f"create trigger critiques_ai after insert on critiques begin insert into critiques_fts ({columns}) values ({new}); end"
    )
    db.execute(
        f"create trigger critiques_ad after delete on critiques begin "
        f"insert into critiques_fts (critiques_fts, {columns}) values ({old}); end"
    )
    db.execute(
        f"create trigger critiques_au after update of error_description, raw on critiques begin "
        f"insert into critiques_fts (critiques_fts, {columns}) values ({old}); "
        f"insert into critiques_fts ({columns}) values ({new}); end"
    )
    db.execute("insert into critiques_fts (critiques_fts) values ('rebuild')")


@migration
def m010_guideline_versions(db: sqlite_utils.Database) -> None:
    # Which guidelines were in force when a decision was made (rel_core/guidelines.py): the start
    # of the SHA-256 of their text, so labels given under different rules can be told apart.
    db.execute("alter table reviews add column guideline_version text")


@migration
def m011_overlap(db: sqlite_utils.Database) -> None:
    # Team projects (rel_core/overlap.py): an overlap item is decided independently by k experts,
    # so up to k review sessions hold it at once, one row each (the single claim on `problems` is
    # for everything else). Same holder columns as m004, so dead local holders are told apart.
    db.table("overlap_claims").create(
        {
            "problem_id": int,
            "owner": str,
            "annotator": str,
            "claim_expires": str,
            "claim_label": str,
            "claim_host": str,
            "claim_pid": int,
            "claim_started": int,
        },
        pk=("problem_id", "owner"),
        not_null={"problem_id", "owner", "annotator", "claim_expires"},
        foreign_keys=[("problem_id", "problems", "id")],
    )
    # `adjudicated`: an adjudicator's final word on an overlap item the experts disagreed on; null
    # for an expert's own (independent) decision. Agreement figures count only the latter.
    db.execute("alter table reviews add column role text")


@migration
def m012_problem_marks(db: sqlite_utils.Database) -> None:
    # "This problem is broken" (rel_core/problem_marks.py): an expert's mark on the problem itself
    # (wrong reference, ambiguous, incomplete, duplicate, needs a figure, or a reason in words),
    # not on an attempt. A problem with a live mark leaves the review queue, `--auto` and exports.
    # Unmarking sets `undone_at` and `undone_by`; nothing is deleted, so the history stays.
    db.execute(
        "create table problem_marks ("
        "id integer primary key, "
        "problem_id integer not null references problems(id), "
        "annotator text not null, "
        "kind text not null check (kind in "
        "('wrong_reference', 'ambiguous', 'incomplete', 'duplicate', 'needs_figure', 'other')), "
        "note text, "
        "created_at text not null, "
        "undone_at text, "
        "undone_by text)"
    )
    # One live mark per expert and problem (marking again replaces it); the live ones are few and
    # every queue and claim query asks "is this problem marked", so that index is partial.
    db.execute("create unique index problem_marks_live on problem_marks (problem_id, annotator) where undone_at is null")
    db.execute("create index problem_marks_by_annotator on problem_marks (annotator, id)")


# What the search covers beyond the problems (m009), and the columns indexed.
SEARCHED_TABLES = {"attempts": ("text",), "critiques": ("error_description", "raw")}


@migration
def m013_search_index_catches_up(db: sqlite_utils.Database) -> None:
    # The runner writes a draft and a critique at every step, and indexing each one for search in
    # the step's own commit cost the runner 8-17% of its CPU per call (FTS5 flushes a new segment at
    # every commit). Rows are now indexed in bulk, by `Store.catch_up_search` (before every search
    # and at the end of `--auto`). `search_marks` holds the highest rowid indexed per table: the
    # triggers keep the rows at or below it in sync (an edit, a delete, a reused rowid); the rows
    # above it are not in the index yet, and nothing in the index is wrong.
    db.execute("create table search_marks (name text primary key, indexed_upto integer not null)")
    for table, columns in SEARCHED_TABLES.items():
        db.execute(f"insert into search_marks values (?, coalesce((select max(rowid) from [{table}]), 0))", [table])
        indexed = f"(select indexed_upto from search_marks where name = '{table}')"
        names = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        delete_old = f"insert into {table}_fts ({table}_fts, rowid, {names}) values ('delete', old.rowid, {old});"
        insert_new = f"insert into {table}_fts (rowid, {names}) values (new.rowid, {new});"
        for trigger in ("ai", "ad", "au"):
            db.execute(f"drop trigger {table}_{trigger}")
        db.execute(f"create trigger {table}_ai after insert on {table} when new.rowid <= {indexed} begin {insert_new} end")
        db.execute(f"create trigger {table}_ad after delete on {table} when old.rowid <= {indexed} begin {delete_old} end")
        db.execute(
            f"create trigger {table}_au after update of {names} on {table} when old.rowid <= {indexed} "
            f"begin {delete_old} {insert_new} end"
        )
