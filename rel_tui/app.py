"""The review app (placeholder until the review TUI lands)."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static

from rel_core.config import Settings


class ReviewApp(App):
    BINDINGS = [("q", "quit", "Quit")]

    def __init__(self, db_path: Path, settings: Settings, annotator: str):
        super().__init__()
        self.db_path = db_path
        self.settings = settings
        self.annotator = annotator

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"rel-tui review: {self.db_path} ({self.annotator})")
        yield Footer()
