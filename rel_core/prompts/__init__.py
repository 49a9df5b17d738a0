"""Prompt templates for the loop: one file each, versioned by a hash of their text.

Placeholders are `{name}` for the names a template is rendered with; every other brace is
left alone, so LaTeX (`\\boxed{x}`) and JSON examples need no escaping. A directory given in
config (`loop.template_dir`) replaces the bundled files one by one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

BUNDLED_DIR = Path(__file__).parent
SUFFIXES = (".md", ".txt")

# The placeholders each template is rendered with, and those its file must contain.
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "generate": ("problem",),
    "revise": ("problem", "attempt", "hint"),
    "final_rewrite": ("problem", "attempt", "reference_solution", "reference_answer"),
    "cleanup": ("problem", "attempt", "final_answer"),
    "critic": ("problem", "attempt", "reference_answer", "reference_solution", "check_note"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "generate": ("problem",),
    "revise": ("problem", "attempt", "hint"),
    "final_rewrite": ("problem", "reference_solution"),
    "cleanup": ("attempt",),
    "critic": ("problem", "attempt", "reference_answer"),
}


class TemplateError(Exception):
    """A template file is missing or unusable; the message is one line."""


@dataclass(frozen=True)
class Template:
    name: str
    text: str
    path: Path

    @property
    def version(self) -> str:
        """Short hash of the text: attempts record it, so a changed prompt is visible in the data."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:12]

    def render(self, **values: str) -> str:
        allowed = PLACEHOLDERS[self.name]
        missing = [name for name in allowed if name not in values]
        if missing:
            raise TemplateError(f"template {self.name}: no value for {', '.join(missing)}")
        pattern = re.compile(r"\{(" + "|".join(allowed) + r")\}")
        return pattern.sub(lambda m: str(values[m.group(1)]), self.text)


def _find(directory: Path, name: str) -> Path | None:
    for suffix in SUFFIXES:
        path = directory / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def _find_inside(directory: Path, name: str) -> Path | None:
    """The user's file for `name`, which must be in the directory once symlinks are followed: a
    link to ~/.ssh/... in a shared prompts folder would otherwise be read and sent to the LLM."""
    path = _find(directory, name)
    if path is None:
        return None
    resolved, root = path.resolve(), directory.resolve()
    if not resolved.is_relative_to(root):
        raise TemplateError(f"template {path}: resolves to {resolved}, outside template_dir {root}; copy the file in instead of linking it")
    return path


def load_template(name: str, override_dir: Path | None = None) -> Template:
    """The user's file for `name` when the override directory has one, else the bundled file."""
    if name not in PLACEHOLDERS:
        raise TemplateError(f"unknown template {name!r}")
    path = (_find_inside(Path(override_dir), name) if override_dir else None) or _find(BUNDLED_DIR, name)
    if path is None:
        raise TemplateError(f"template {name}: no {name}.md or {name}.txt found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"template {path}: cannot be read ({exc})") from None
    absent = [p for p in REQUIRED[name] if "{" + p + "}" not in text]
    if absent:
        raise TemplateError(f"template {path}: must contain {', '.join('{' + p + '}' for p in absent)}")
    return Template(name=name, text=text, path=path)


class Templates:
    """All loop templates, loaded once and checked up front."""

    def __init__(self, override_dir: Path | None = None):
        if override_dir is not None and not Path(override_dir).is_dir():
            raise TemplateError(f"template_dir {override_dir} is not a directory")
        self._templates = {name: load_template(name, override_dir) for name in PLACEHOLDERS}

    def __getitem__(self, name: str) -> Template:
        return self._templates[name]

    def versions(self) -> dict[str, str]:
        return {name: t.version for name, t in self._templates.items()}
