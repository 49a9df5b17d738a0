"""`python -m rel_core.answer_worker`: answers math-verify questions, one JSON line each.

Reads `[reference, answer]` lines on stdin and writes `[reference parsed, answer parsed, equal]`.
It runs math-verify on its main thread, where math-verify's SIGALRM timeouts work.
"""

from __future__ import annotations

import json
import logging
import sys


def main() -> None:
    logging.disable(logging.WARNING)  # math-verify logs each timeout; the parent reports its own
    from rel_core.answers import math_verify_in_worker

    for line in sys.stdin:
        try:
            reference, answer = json.loads(line)
            result = list(math_verify_in_worker(reference, answer))
        except Exception:  # a crash on one odd answer must not take the worker down
            result = [False, False, False]
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
