"""Prompt templates for the loop: one file each, versioned by a hash of their text.

Placeholders are `{name}` for the names a template is rendered with; every other brace is
left alone, so LaTeX (`\\boxed{x}`) and JSON examples need no escaping. A directory given in
config (`loop.template_dir`) replaces the bundled files one by one.

Each step's prompt is a system message (its role's template: `system` for the generator's steps,
`critic_system` for the critic) followed by the step's own text. The system message holds what
stays the same over a problem's calls (role, problem, reference), so every call of a role starts
with one identical prefix that providers can cache.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
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
    "system": ("problem",),
    "critic_system": ("problem", "reference_answer", "reference_solution"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "generate": (),
    "revise": ("attempt", "hint"),
    "final_rewrite": ("reference_solution",),
    "cleanup": ("attempt",),
    "critic": ("attempt",),
    "system": ("problem",),
    "critic_system": ("problem", "reference_answer"),
}
# The system message each step is sent with: the cacheable prefix shared by the role's calls.
SYSTEM_OF = {
    "generate": "system",
    "revise": "system",
    "final_rewrite": "system",
    "cleanup": "system",
    "critic": "critic_system",
}


class TemplateError(Exception):
    """A template file is missing or unusable; the message is one line."""


@dataclass(frozen=True)
class Template:
    name: str
    text: str
    path: Path
    system: Template | None = None
    """The system message the step is sent with (SYSTEM_OF)."""

    @property
    def version(self) -> str:
        """Short hash of the text and its system message: attempts record it, so a changed prompt is
        visible in the data."""
        whole = self.text if self.system is None else f"{self.system.text}\0{self.text}"
        return hashlib.sha256(whole.encode("utf-8")).hexdigest()[:12]

    def render_system(self, **values: object) -> str | None:
        return self.system.render(**values) if self.system is not None else None

    def render(self, **values: object) -> str:  # each value is put in as str(value)
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
        raise TemplateError(
            f"template {path}: resolves to {resolved}, outside template_dir {root}; copy the file in instead of linking it"
        )
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
        loaded = {name: load_template(name, override_dir) for name in PLACEHOLDERS}
        self._templates = {
            name: replace(template, system=loaded[SYSTEM_OF[name]]) if name in SYSTEM_OF else template
            for name, template in loaded.items()
        }

    def __getitem__(self, name: str) -> Template:
        return self._templates[name]

    def versions(self) -> dict[str, str]:
        return {name: t.version for name, t in self._templates.items()}
