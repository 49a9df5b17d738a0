"""The guidelines panel (`review.guidelines`) and the guideline version recorded on decisions."""

from __future__ import annotations

import hashlib

import pytest
from rich.markdown import Markdown
from textual.widgets import Static
from tui_data import make_db

from rel_core.config import ReviewSettings, Settings, load_settings
from rel_core.store import Store
from rel_tui.app import ReviewApp
from rel_tui.screens.guidelines import GuidelinesScreen
from rel_tui.screens.review import ReviewScreen

GUIDELINES = "# Annotation guidelines\n\nAccept a solution only if **every** step is justified.\n\n" + "".join(
    f"{n}. Rule number {n} [bold]not markup[/bold]\x1b[31m\n" for n in range(1, 80)
)


def version_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def make_app(db, guidelines) -> ReviewApp:
    return ReviewApp(db, Settings(review=ReviewSettings(guidelines=guidelines)), "alice")


def recorded_versions(db) -> list[str | None]:
    with Store(db) as store:
        return [row[0] for row in store.conn.execute("select guideline_version from reviews order by id")]


def panel_text(app: ReviewApp) -> str:
    markdown = app.screen.query_one("#guidelines", Static).content
    assert isinstance(markdown, Markdown)
    return markdown.markup


async def test_key_opens_scrollable_markdown_panel_with_the_text(tmp_path):
    db = make_db(tmp_path / "rel.db")
    path = tmp_path / "guidelines.md"
    path.write_text(GUIDELINES)
    app = make_app(db, path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("G")
        assert isinstance(app.screen, GuidelinesScreen)
        text = panel_text(app)
        assert "Accept a solution only if **every** step is justified." in text
        assert "[bold]not markup[/bold]" in text  # kept as data, shown literally
        assert "\x1b" not in text and "␛" in text  # control characters made visible
        assert version_of(GUIDELINES) in str(app.screen.query_one(".guidelines").border_title)
        scroll = app.screen.query_one("#guidelines-scroll")
        assert scroll.max_scroll_y > 0
        await pilot.press("pagedown")
        assert scroll.scroll_y > 0
        await pilot.press("escape")
        assert isinstance(app.screen, ReviewScreen)


async def test_decisions_record_the_version_in_force(tmp_path):
    db = make_db(tmp_path / "rel.db")
    path = tmp_path / "guidelines.md"
    path.write_text("First rules.\n")
    app = make_app(db, path)
    async with app.run_test() as pilot:
        await pilot.press("a")
        path.write_text("Second rules: stricter.\n")
        await pilot.press("a")
        path.unlink()
        await pilot.press("s")
    assert recorded_versions(db) == [version_of("First rules.\n"), version_of("Second rules: stricter.\n"), None]


async def test_missing_file_is_a_one_line_notice(tmp_path):
    db = make_db(tmp_path / "rel.db")
    app = make_app(db, tmp_path / "nowhere" / "guidelines.md")
    async with app.run_test() as pilot:
        await pilot.press("G")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        [notice] = app._notifications
        assert "guidelines.md not found" in notice.message
        assert "\n" not in notice.message


async def test_no_guidelines_configured_says_how_to_set_them(tmp_path):
    db = make_db(tmp_path / "rel.db")
    app = make_app(db, None)
    async with app.run_test() as pilot:
        await pilot.press("G")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        [notice] = app._notifications
        assert "review.guidelines" in notice.message
        await pilot.press("a")
    assert recorded_versions(db) == [None]


def test_fifo_or_folder_is_refused_without_waiting(tmp_path):
    import os

    from rel_core.guidelines import GuidelinesUnavailable, load_guidelines, version_in_force

    fifo = tmp_path / "guidelines.md"
    os.mkfifo(fifo)
    for path in (fifo, tmp_path):
        with pytest.raises(GuidelinesUnavailable, match=r"not a regular file|Is a directory"):
            load_guidelines(path)
        assert version_in_force(path) is None


def test_path_is_relative_to_the_config_file(tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    (project / "rel.toml").write_text('[review]\nguidelines = "docs/guidelines.md"\n')
    monkeypatch.chdir(tmp_path)
    settings = load_settings(project / "rel.db")
    assert settings.review.guidelines == project / "docs" / "guidelines.md"
