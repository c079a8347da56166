"""Multiple-choice questions: split a query into its stem and lettered options.

Accepts the shapes StreamingBench and people use: one option per line (``A. red`` / ``(A) red`` / ``A) red`` /
``A: red``), or options inline after the question (``… A. red B. blue C. green``). Needs at least two options in
letter order starting at A; anything else is a plain question with no choices.
"""

from __future__ import annotations

import re

_LINE = re.compile(r"^\s*\(?([A-H])[.):]\s*(.+?)\s*$")
_INLINE = re.compile(r"(?:(?<=\s)|^)\(?([A-H])[.):]\s+")


def _in_order(letters: list[str]) -> bool:
    return len(letters) >= 2 and letters == [chr(ord("A") + i) for i in range(len(letters))]


def split_choices(text: str) -> tuple[str, tuple[str, ...]]:
    lines = [line for line in text.splitlines() if line.strip()]
    stem_lines: list[str] = []
    options: list[tuple[str, str]] = []
    for line in lines:
        m = _LINE.match(line)
        if m and (options or stem_lines):
            options.append((m.group(1), m.group(2)))
        elif options:
            letter, body = options[-1]
            options[-1] = (letter, f"{body} {line.strip()}")
        else:
            stem_lines.append(line.strip())
    if _in_order([letter for letter, _ in options]):
        return " ".join(stem_lines), tuple(body for _, body in options)
    marks = list(_INLINE.finditer(text))
    letters = [m.group(1) for m in marks]
    if _in_order(letters) and marks[0].start() > 0:
        bodies = [
            text[m.end() : (marks[i + 1].start() if i + 1 < len(marks) else len(text))].strip(" ;,\n")
            for i, m in enumerate(marks)
        ]
        if all(bodies):
            return text[: marks[0].start()].strip(), tuple(bodies)
    return text.strip(), ()
