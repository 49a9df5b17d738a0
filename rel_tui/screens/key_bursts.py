"""Dialogs and pushed screens that keep working when keys arrive in bursts.

Over a laggy SSH link (or with key repeat, or a paste without bracketed paste) several keys reach
the app in one read: Textual queues all of them before the dialog has handled the first. Three
rules hold however fast keys come:
- a screen closes once. Textual's `dismiss` pops whatever screen is on top, so a second enter on
  a dialog already closed would pop the review screen behind it (a blank app). `ClosesOnce` makes
  a dismiss of a screen that is no longer on top do nothing.
- keys read before a screen closed were typed into it: they never reach the screen it uncovers;
  and a one-key confirmation (`ConfirmsByOneKey`) takes no key read before it opened, so a doubled
  `a` cannot accept anyway (`not_for_the_active_screen`, which the app asks of every key).
- a digit that is a command while a field is empty (a reject preset, a filter state) is decided
  by the field itself as it takes each key in order (`DigitKeysInput`), so a digit after typed
  text is text.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual import events
from textual.app import App
from textual.await_complete import AwaitComplete
from textual.widgets import Input

CLOSED_AT = "_rel_screen_closed_at"  # an attribute of the app: when a screen last closed (monotonic seconds)


class ClosesOnce:
    """Mixin for a Screen or ModalScreen (listed before it): dismissing it twice closes it once."""

    def dismiss(self, result: Any = None) -> AwaitComplete:
        if not self.is_active:  # type: ignore[attr-defined]  # closed already (or covered): nothing to pop
            return AwaitComplete.nothing()
        setattr(self.app, CLOSED_AT, time.monotonic())  # type: ignore[attr-defined]
        return super().dismiss(result)  # type: ignore[misc]


class ConfirmsByOneKey(ClosesOnce):
    """Mixin for a dialog answered by one key: keys read before it opened were meant for the screen below."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opened_at = time.monotonic()


def not_for_the_active_screen(app: App, event: events.Event) -> bool:
    """A key read from the terminal before the latest screen closed (typed into that one) or before
    the active one-key confirmation opened. Asked of keys arriving at the app and of keys bubbling
    back to it from a widget (where the app looks up the active screen's bindings for them)."""
    if not isinstance(event, events.Key):
        return False
    active = app.screen_stack[-1] if app.screen_stack else None
    read_before = max(getattr(app, CLOSED_AT, 0.0), getattr(active, "opened_at", 0.0))
    return event.time < read_before


class DigitKeysInput(Input):
    """A field whose digits are commands while it is empty: `on_digit(character)` gets them and
    says whether it took one (else the digit is text). Decided here, key by key in arrival order:
    the dialog cannot tell how many keys are still on their way to the field."""

    def __init__(self, *args: Any, digits: str, on_digit: Callable[[str], bool], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.digits = digits
        self.on_digit = on_digit

    def _on_key(self, event: events.Key) -> None:
        # Textual calls each class's _on_key in turn: preventing the default keeps Input's from typing it.
        digit = event.character if event.character is not None and event.character in self.digits else None
        if not self.value and digit is not None and self.on_digit(digit):
            event.stop()
            event.prevent_default()
