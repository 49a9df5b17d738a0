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
    db["problems"].create(
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
    db["problems"].create_index(["hash"], unique=True)
    db["problems"].create_index(["state", "id"])
    create_fts(db, "problems", "text")

    # Every call to an LLM, successful or not, with what it cost. Never holds API keys.
    db["llm_calls"].create(
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
    db["llm_calls"].create_index(["problem_id"])

    # Every draft of a worked solution: generated, revised, rewritten, edited by an expert or imported.
    db["attempts"].create(
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
    db["attempts"].create_index(["problem_id", "id"])

    # A judgement on one attempt: from the answer check, an LLM critic, an expert or imported data.
    db["critiques"].create(
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
    db["critiques"].create_index(["attempt_id", "id"])

    # An expert's decision. Undo marks a review undone rather than deleting it.
    db["reviews"].create(
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
    db["reviews"].create_index(["problem_id", "id"])


@migration
def m002_edit_drafts(db: sqlite_utils.Database) -> None:
    # Unsaved expert edits, autosaved so a dropped SSH session loses nothing; one per annotator.
    db["edit_drafts"].create(
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
        db["problems"].add_column(column, kind)
    # Only claimed rows: finding the claims of dead holders, or held by others, scans just those.
    db.execute("create index problems_claimed on problems (claim_host, claim_pid) where claimed_by is not null")


@migration
def m005_reasoning(db: sqlite_utils.Database) -> None:
    # Reasoning text that servers send apart from the answer (vLLM/llama.cpp `reasoning_content`,
    # Ollama `reasoning`, Anthropic thinking): kept beside the answer, never mixed into it.
    db.execute("alter table llm_calls add column reasoning text")
    db.execute("alter table attempts add column reasoning text")


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
    db.execute(f"create trigger critiques_ai after insert on critiques begin insert into critiques_fts ({columns}) values ({new}); end")
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
