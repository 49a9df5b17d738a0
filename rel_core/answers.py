"""Final answers: find them in a worked solution and check them against the reference.

The check uses math-verify (`verify(parse(gold), parse(answer))`, in that order). math-verify
times itself out with SIGALRM, which only works on a main thread, so it runs on the main
thread of worker processes, behind an outer deadline of our own that kills a stuck worker.
"""

from __future__ import annotations

import asyncio
import json
import queue
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from .models import Verdict

CHECK_TIMEOUT_SECONDS = 20.0
WORKER_START_SECONDS = 60.0
MATH_VERIFY_TIMEOUT_SECONDS = 5

_ANSWER_LINE = re.compile(r"answer\s+is\s*(?::\s*)?(.+)", re.IGNORECASE)
_CHOICE = re.compile(r"^(?:\(([A-J])\)|([A-J])(?:[.):]|$))")
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_WORD = re.compile(r"[A-Za-z]{3,}")
_MATH_WORDS = frozenset("sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh log ln exp sqrt pi inf infty and".split())


# -- extraction ------------------------------------------------------------------------
#
# Every scanner here runs in time linear in its input: drafts can be megabytes of one line, with
# thousands of unclosed `\boxed{` or `<ANSWER>`. Patterns are literal or anchored, and each
# construct is paired with its closer in one forward pass, never by a lazy `.*?` per opening.

_ANSWER_OPEN = re.compile(r"<ANSWER>", re.IGNORECASE)
_ANSWER_CLOSE = re.compile(r"</ANSWER>", re.IGNORECASE)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BRACE_OR_ESCAPE = re.compile(r"\\.|[{}]", re.DOTALL)  # `\{` and `\}` are literal braces, not grouping


def extract_answer(text: str | None) -> str | None:
    """The final answer: the last <ANSWER> tag, else the last \\boxed{}, else a last "answer is" line.

    A tag with a \\boxed{} in it gives what is inside its last box. The loop, the importers and
    the answer check all use this, so an attempt's stored answer is the one that was checked.
    """
    return _final_answer(text)[0]


def _final_answer(text: str | None) -> tuple[str | None, bool]:
    """(the final answer, whether it is an <ANSWER> tag's own words, with no box in them)."""
    text = text or ""
    tagged = answer_tag(text)
    if tagged:
        boxed = last_boxed(tagged)
        return (boxed, False) if boxed else (tagged, True)
    return last_boxed(text) or _last_answer_line(text), False


def answer_tag(text: str | None) -> str | None:
    """The text of the last <ANSWER>...</ANSWER> block (any case), stripped; None if absent or empty."""
    text = text or ""
    last = None
    for _, begin, end, _ in _answer_tags(text):
        last = (begin, end)
    return (text[last[0] : last[1]].strip() or None) if last else None


def _answer_tags(text: str) -> Iterator[tuple[int, int, int, int]]:
    """(tag start, content start, content end, tag end) of each <ANSWER>...</ANSWER> in one pass.

    Each opening pairs with the first closing after it, as the lazy regex used to; an opening with
    no closing after it ends the search (no later opening can have one either).
    """
    position = 0
    while (opening := _ANSWER_OPEN.search(text, position)) is not None:
        closing = _ANSWER_CLOSE.search(text, opening.end())
        if closing is None:
            return
        yield opening.start(), opening.end(), closing.start(), closing.end()
        position = closing.end()


def last_boxed(text: str | None, *, skip_unclosed: bool = False) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), nested braces included; `\\{` is a literal brace.

    A draft whose last box is unclosed was cut off mid-answer, so it has no answer: None, the
    default. A reference solution (the importers) can have a stray unclosed box in its prose, so
    `skip_unclosed=True` gives the last box that is closed instead. An empty box gives None.
    """
    if not text or "box" not in text:
        return None
    starts = [match.end() for match in _BOXED.finditer(text)]
    if not starts:
        return None
    if skip_unclosed:
        span = _last_closed_box(text, starts)
    else:
        close = _closing_brace(text, starts[-1])
        span = None if close is None else (starts[-1], close)
    return None if span is None else (text[span[0] : span[1]].strip() or None)


def _closing_brace(text: str, start: int) -> int | None:
    """Where the brace that opens just before `start` is closed; None if it never is."""
    depth = 1
    for token in _BRACE_OR_ESCAPE.finditer(text, start):
        char = token.group()
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return token.start()
    return None


def _last_closed_box(text: str, starts: list[int]) -> tuple[int, int] | None:
    """(content start, content end) of the last box that is closed, in one pass with a stack of braces.

    Scanning from each box to its end would be quadratic in the number of unclosed boxes.
    """
    boxes = set(starts)
    open_braces: list[int] = []
    best: tuple[int, int] | None = None
    for token in _BRACE_OR_ESCAPE.finditer(text, starts[0] - 1):
        char = token.group()
        if char == "{":
            open_braces.append(token.end())
        elif char == "}" and open_braces:
            begin = open_braces.pop()
            if begin in boxes and (best is None or begin > best[0]):
                best = (begin, token.start())
    return best


# The "answer is" fallback trusts only a statement that ends the text. A model that writes "so the
# answer is 50." and goes on ("Let me verify...") has not settled on 50, and a trace cut off during
# that check has no final answer at all. So the statement must be in the last ANSWER_TAIL_LINES
# non-empty lines, what follows it (rest of its line after the sentence, then later lines) must be
# short, at most max(ANSWER_TAIL_CHARS, ANSWER_TAIL_SHARE of the text), and must not read as the
# reasoning going on: a word like "wait", "verify", "check", "but", or a trailing "..." of a cut-off
# trace. A sign-off such as "Done." or "Hope this helps." may follow.
ANSWER_TAIL_LINES = 3
ANSWER_TAIL_CHARS = 200
ANSWER_TAIL_SHARE = 0.15
_GOING_ON = re.compile(
    r"\b(?:wait|but|however|hmm+|actually|alternatively|hold on|let me|let's|let us|verify|verifying|"
    r"check|checking|double[- ]check|re-?check|confirm|on second thought|mistake)\b|(?:\.\.\.|\u2026)\s*$",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?]\s+(?=[A-Z])")


def _last_answer_line(text: str) -> str | None:
    lines = [line for line in text.splitlines() if line.strip()]
    tail = lines[-ANSWER_TAIL_LINES:]
    for index in range(len(tail) - 1, -1, -1):
        match = _ANSWER_LINE.search(tail[index])
        if not match:
            continue
        stated = match.group(1)
        end = _SENTENCE_END.search(stated)
        answer, rest = (stated[: end.start()], stated[end.end() :]) if end else (stated, "")
        after = "\n".join([rest, *tail[index + 1 :]]).strip()
        if len(after) > max(ANSWER_TAIL_CHARS, ANSWER_TAIL_SHARE * len(text)) or _GOING_ON.search(after):
            return None
        answer = answer.strip().strip("*").rstrip(".").strip().strip("*").strip()  # "**191**." -> "191"
        return answer or None
    return None


def demote_answer_tags(text: str) -> str:
    """Earlier answers in a trace that is being continued become plain text, so only one tag remains."""
    pieces, position = [], 0
    for start, begin, end, stop in _answer_tags(text):
        pieces += [text[position:start], f"(my answer at this point: {text[begin:end].strip()})"]
        position = stop
    pieces.append(text[position:])
    return "".join(pieces)


# -- normalisation ---------------------------------------------------------------------


def strip_math_delimiters(answer: str) -> str:
    text = answer.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(left) and text.endswith(right) and len(text) > len(left) + len(right):
            text = text[len(left) : -len(right)].strip()
    boxed = last_boxed(text) if text.startswith(("\\boxed{", "\\fbox{")) else None
    return boxed or text


def normalise(answer: str) -> str:
    text = strip_math_delimiters(answer)
    text = re.sub(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}", r"\1", text)
    text = re.sub(r"\s+", " ", text).strip().rstrip(".").strip()
    return text.lower()


def choice_letter(answer: str | None, problem: str | None = None) -> str | None:
    """The option an answer names; None if it names none, or if that is unclear.

    Without `problem`: the answer written as a letter, `C`, `(C)`, `C.` or `C) 42` -> "C".
    With `problem`: the answer (a GPQA-style reference starts with the correct option's text, then
    explains it) matched to the problem's lettered options: an exact match of its first line wins,
    otherwise the single longest option it starts with. A problem with no options gives None.
    """
    if problem is not None:
        return _option_named(options(problem), answer)
    match = _CHOICE.match(normalise(answer or "").upper())
    return (match.group(1) or match.group(2)) if match else None


def choice_answer(problem: str, reference: str | None) -> str | None:
    """The correct option written as the bundled dataset writes it, "(C)"; None if unclear."""
    letter = choice_letter(reference, problem)
    return f"({letter})" if letter else None


# `[^\S\n]` (whitespace but not a newline) keeps each try on one line: `\s*` would run across every
# following blank line from each line start, quadratic in the number of blank lines.
_OPTIONS_HEADER = re.compile(r"^[^\S\n]*Options[^\S\n]*:[^\S\n]*$", re.MULTILINE | re.IGNORECASE)
_OPTION_LINE = re.compile(r"^\s*\(([A-Z])\)\s*(.*)$")  # used on single lines only


def options(problem: str) -> dict[str, str]:
    """The lettered options after an `Options:` line, e.g. {"A": "16", "B": "2"}; {} if none."""
    header = _OPTIONS_HEADER.search(problem)
    if not header:
        return {}
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in problem[header.end() :].splitlines():
        option = _OPTION_LINE.match(line)
        if option:
            current = found.setdefault(option.group(1), [])
            current.append(option.group(2))
        elif current is not None and line.strip():
            current.append(line)  # an option that runs over several lines
    return {letter: _casefolded(" ".join(lines)) for letter, lines in found.items()}


def _option_named(choices: dict[str, str], reference: str | None) -> str | None:
    if not choices or not reference or not reference.strip():
        return None
    first_line = _casefolded(reference.strip().splitlines()[0])
    exact = [letter for letter, text in choices.items() if text and text == first_line]
    if len(exact) == 1:
        return exact[0]
    if exact:
        return None
    lead = _casefolded(reference[: 4 * max(len(t) for t in choices.values()) + 20])
    prefixes = [(len(text), letter) for letter, text in choices.items() if text and _starts_with_word(lead, text)]
    if not prefixes:
        return None
    prefixes.sort(reverse=True)
    if len(prefixes) > 1 and prefixes[0][0] == prefixes[1][0]:
        return None
    return prefixes[0][1]


def _casefolded(text: str) -> str:
    return " ".join(text.split()).rstrip(".").strip().casefold()


def _starts_with_word(text: str, prefix: str) -> bool:
    """`text` starts with `prefix` and the prefix ends at a word boundary ("16" must not match "160")."""
    if not text.startswith(prefix):
        return False
    rest = text[len(prefix) :]
    return not rest or not rest[0].isalnum()


def looks_like_prose(answer: str) -> bool:
    """Words that are not mathematics: math-verify would read them as products of symbols."""
    bare = _LATEX_COMMAND.sub(" ", strip_math_delimiters(answer))
    return any(word.lower() not in _MATH_WORDS for word in _WORD.findall(bare))


# -- the check -------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """What the answer check found. `decisive` means its verdict can be trusted without an LLM."""

    verdict: Verdict
    decisive: bool
    answer: str | None
    reason: str

    @property
    def note(self) -> str:
        return f"answer check: {self.reason}"


def _checkable(reference: str | None, answer: str | None, in_tag: bool = False) -> CheckResult | None:
    """Decide the cases that need no math-verify; None means math-verify must look.

    Free text is not machine-checkable, except an <ANSWER> tag's own words ("**608 ants of
    Species A**"): the answer was asked for there, so math-verify's own extraction reads them.
    """
    if not reference or not reference.strip():
        return CheckResult(Verdict.UNKNOWN, False, answer, "no reference answer to check against")
    if answer is None:
        return CheckResult(Verdict.UNKNOWN, False, None, "no final answer found in the solution")
    if normalise(answer) == normalise(reference):
        return CheckResult(Verdict.CORRECT, True, answer, f"{answer!r} matches the reference exactly")
    gold_letter = choice_letter(reference)
    if gold_letter and len(normalise(reference)) <= 3:
        letter = choice_letter(answer)
        if letter is None:
            return CheckResult(Verdict.UNKNOWN, False, answer, f"{answer!r} does not name an option")
        verdict = Verdict.CORRECT if letter == gold_letter else Verdict.INCORRECT
        return CheckResult(verdict, True, answer, f"option {letter}, reference option {gold_letter}")
    if looks_like_prose(reference):
        return CheckResult(Verdict.UNKNOWN, False, answer, "the reference is free text, not machine-checkable")
    if looks_like_prose(answer) and not in_tag:
        return CheckResult(Verdict.UNKNOWN, False, answer, f"{answer!r} is free text, not machine-checkable")
    return None


def math_verify_in_worker(reference: str, answer: str) -> tuple[bool, bool, bool]:
    """(reference parsed, answer parsed, equivalent). Runs in a worker process's main thread."""
    from math_verify import parse, verify

    def parsed(text: str) -> list:
        return parse(f"\\boxed{{{strip_math_delimiters(text)}}}", parsing_timeout=MATH_VERIFY_TIMEOUT_SECONDS)

    def has_expression(items: list) -> bool:
        return any(not isinstance(item, str) for item in items)

    # Only an <ANSWER> tag's words get here as free text (_checkable): math-verify finds the answer in them.
    prose = looks_like_prose(answer)
    gold = parsed(reference)
    target = parse(answer, parsing_timeout=MATH_VERIFY_TIMEOUT_SECONDS) if prose else parsed(answer)
    if not (has_expression(gold) and has_expression(target)):
        return has_expression(gold), has_expression(target), False
    return True, True, bool(verify(gold, target, timeout_seconds=MATH_VERIFY_TIMEOUT_SECONDS))


def _from_math_verify(answer: str, reference: str, outcome: tuple[bool, bool, bool]) -> CheckResult:
    gold_ok, answer_ok, equal = outcome
    if not gold_ok:
        return CheckResult(Verdict.UNKNOWN, False, answer, "the reference does not parse as mathematics")
    if looks_like_prose(answer):  # a tag's own words: what math-verify picks out may not be the answer meant
        if answer_ok and equal:
            return CheckResult(Verdict.CORRECT, True, answer, f"{answer!r} states an answer equivalent to the reference")
        return CheckResult(Verdict.UNKNOWN, False, answer, f"{answer!r} is free text with no answer equal to the reference")
    if not answer_ok:
        return CheckResult(Verdict.UNKNOWN, False, answer, f"{answer!r} does not parse as mathematics")
    if equal:
        return CheckResult(Verdict.CORRECT, True, answer, f"{answer!r} is equivalent to the reference")
    return CheckResult(Verdict.INCORRECT, True, answer, f"{answer!r} is not equivalent to the reference")


class CheckerClosed(RuntimeError):
    """The checker was closed (the run is ending) while a check was in flight: no verdict, and not the
    problem's fault; the runner leaves the problem resumable."""


class _Worker:
    """One long-lived `python -m rel_core.answer_worker` process, asked one question at a time.

    A plain subprocess rather than multiprocessing: spawn would re-import the caller's
    __main__ (scripts, test runners) and fork would copy the parent's threads and locks.
    """

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.answered = 0

    def start(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rel_core.answer_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
            )
            self.answered = 0

    def ask(self, reference: str, answer: str, timeout: float) -> tuple[bool, bool, bool]:
        self.start()
        # Its own reference: `kill` (the checker closed from another thread) may clear self.process meanwhile.
        process = self.process
        assert process is not None and process.stdin and process.stdout
        if self.answered == 0:
            timeout += WORKER_START_SECONDS  # the first answer waits for sympy to import
        try:
            process.stdin.write(json.dumps([reference, answer]) + "\n")
            process.stdin.flush()
            ready, _, _ = select.select([process.stdout], [], [], timeout)
            line = process.stdout.readline() if ready else ""
        except (OSError, ValueError):  # ValueError: its pipes were closed under us
            line = ""
        if not line:
            if self.process is not process:  # killed while it worked: the checker is closing, not slow
                raise CheckerClosed("the answer checker was closed during the check")
            self.kill()
            raise TimeoutError("answer worker did not answer in time")
        self.answered += 1
        gold_ok, answer_ok, equal = json.loads(line)
        return bool(gold_ok), bool(answer_ok), bool(equal)

    def kill(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()


class AnswerChecker:
    """Checks answers; math-verify runs in a few worker processes, started on first use."""

    def __init__(self, workers: int = 2, timeout: float = CHECK_TIMEOUT_SECONDS):
        self.timeout = timeout
        self._workers = [_Worker() for _ in range(workers)]
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        for worker in self._workers:
            self._idle.put(worker)
        self._closed = False

    def warm(self) -> None:
        """Start the workers now, so the first check does not wait for them to import sympy."""
        for worker in self._workers:
            worker.start()

    def quick_check(self, text: str, reference: str | None) -> CheckResult | None:
        """The verdict when no math-verify is needed (exact match, option letters, free text), else None."""
        return _checkable(reference, *_final_answer(text))

    async def check(self, text: str, reference: str | None) -> CheckResult:
        answer, in_tag = await asyncio.to_thread(_final_answer, text)  # a long draft is CPU work: off the event loop
        quick = _checkable(reference, answer, in_tag)
        if quick is not None:
            return quick
        assert reference is not None and answer is not None
        try:
            outcome = await asyncio.to_thread(self._ask, reference, answer)
        except TimeoutError:
            return CheckResult(Verdict.UNKNOWN, False, answer, "math-verify did not finish in time")
        return _from_math_verify(answer, reference, outcome)

    def _ask(self, reference: str, answer: str) -> tuple[bool, bool, bool]:
        worker = self._idle.get()
        try:
            if self._closed:  # a check that comes late must not start a worker nobody will stop
                raise CheckerClosed("the answer checker is closed")
            return worker.ask(reference, answer, self.timeout)
        finally:
            self._idle.put(worker)

    def close(self) -> None:
        self._closed = True
        for worker in self._workers:
            worker.kill()
