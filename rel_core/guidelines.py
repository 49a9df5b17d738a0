"""The project's annotation guidelines: a Markdown file named in config (`review.guidelines`).

Its version is the start of the SHA-256 of its text, recorded on every decision made while that
text was in force, so a dataset can tell which labels were given under which rules.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

VERSION_HEX_CHARS = 12
MAX_GUIDELINE_BYTES = 2_000_000
"""Guidelines are a document for people; a file beyond this is refused rather than read whole."""


class GuidelinesUnavailable(Exception):
    """The configured file cannot be read as guidelines; the message is one line for the expert."""


@dataclass(frozen=True)
class Guidelines:
    path: Path
    text: str

    @property
    def version(self) -> str:
        return guideline_version(self.text)


def guideline_version(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:VERSION_HEX_CHARS]


def load_guidelines(path: Path) -> Guidelines:
    """The file's current text; GuidelinesUnavailable when missing, too large or not UTF-8."""
    try:
        # O_NONBLOCK: a FIFO or device at the path is refused below instead of waited on (the UI thread reads this).
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise GuidelinesUnavailable(f"guidelines file {path} is not a regular file")
            data = file.read(MAX_GUIDELINE_BYTES + 1)
    except FileNotFoundError:
        raise GuidelinesUnavailable(f"guidelines file {path} not found") from None
    except OSError as exc:
        raise GuidelinesUnavailable(f"guidelines file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_GUIDELINE_BYTES:
        raise GuidelinesUnavailable(f"guidelines file {path} is over {MAX_GUIDELINE_BYTES:,} bytes")
    try:
        return Guidelines(path, data.decode("utf-8"))
    except UnicodeDecodeError:
        raise GuidelinesUnavailable(f"guidelines file {path} is not UTF-8 text") from None


def version_in_force(path: Path | None) -> str | None:
    """The version to record on a decision made now; None when no guidelines are configured or readable."""
    if path is None:
        return None
    try:
        return load_guidelines(path).version
    except GuidelinesUnavailable:
        return None
