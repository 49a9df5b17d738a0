"""Reference answers hidden in imported text, as the importers read them.

The rules live in rel_core.answers (one `last_boxed`, one `choice_letter`, one answer extraction),
so an imported attempt's stored answer is the one the answer check reads. What differs here is
explicit: a reference solution's last *closed* \\boxed{} is its answer, even when an unclosed one
follows it in the prose, where a draft's unclosed last box means it has no answer.
"""

from __future__ import annotations

from rel_core import answers
from rel_core.answers import choice_answer, options

__all__ = ["choice_answer", "choice_letter", "draft_final_answer", "last_boxed", "options", "tagged_answer"]


def last_boxed(text: str | None) -> str | None:
    """Contents of the last closed \\boxed{...} (or \\fbox{...}) of a reference; None if there is none."""
    return answers.last_boxed(text, skip_unclosed=True)


def tagged_answer(text: str | None) -> str | None:
    """The last <ANSWER>...</ANSWER> block, which REL's generator was asked to write."""
    return answers.answer_tag(text)


def draft_final_answer(text: str | None) -> str | None:
    """What a draft claims as its answer, by the same rule the answer check uses."""
    return answers.extract_answer(text)


def choice_letter(problem: str, reference: str | None) -> str | None:
    """The option a GPQA-style reference names in its leading text, or None if unclear."""
    return answers.choice_letter(reference, problem)
