"""The project's annotation guidelines (`review.guidelines`), rendered as Markdown in a scrollable panel."""

from __future__ import annotations

from pathlib import Path

from rich.markdown import Markdown
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from rel_core.guidelines import Guidelines, GuidelinesUnavailable, load_guidelines
from rel_core.terminal_text import one_line
from rel_tui.latex import displayable, readable_markdown
from rel_tui.screens.key_bursts import ClosesOnce
from rel_tui.widgets.rendered_draft import cap_lines


def show_guidelines(app: App, path: Path | None) -> None:
    """Open the panel with the file as it is now, or say in one line why it cannot be shown."""
    if path is None:
        app.notify("No guidelines configured: set review.guidelines in rel.toml.", severity="warning", markup=False)
        return
    try:
        guidelines = load_guidelines(path)
    except GuidelinesUnavailable as exc:
        app.notify(one_line(exc), severity="warning", markup=False)
        return
    app.push_screen(GuidelinesScreen(guidelines))


class GuidelinesScreen(ClosesOnce, ModalScreen[None]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape,G,q", "close", "Close", id="guidelines.close", tooltip="Back to the review")]

    def __init__(self, guidelines: Guidelines) -> None:
        super().__init__()
        self.guidelines = guidelines

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog guidelines") as box:
            box.border_title = Content(f"Guidelines · version {self.guidelines.version}")
            with VerticalScroll(id="guidelines-scroll"):
                # A Rich renderable, so the file's text is Markdown and never Textual markup.
                markdown = Markdown(displayable(readable_markdown(cap_lines(self.guidelines.text))), hyperlinks=False)
                yield Static(markdown, id="guidelines")
            yield Static(Content(f"{one_line(self.guidelines.path)} · escape: close"), classes="hint")

    def on_mount(self) -> None:
        self.query_one("#guidelines-scroll").focus()  # arrows and page keys scroll at once

    def action_close(self) -> None:
        self.dismiss(None)
