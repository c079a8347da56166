"""The StreamingBench task taxonomy: the paper's 18 tasks in 3 categories, and the names the annotation files use.

Source: StreamingBench (Lin et al., arXiv 2411.03628), Table 1. The annotation files spell some tasks differently
(``Object Recognition`` for Object Perception, ``Clips Summarize`` for Clips Summarization, …); ``task_for`` accepts
both spellings. ``OPEN`` is not one of the 18: an open question (no options) of the real-photo suite, scored by the
grounding audit (``eval/grounding.py``) rather than by accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Category = Literal["real-time", "omni-source", "contextual"]
Kind = Literal["choice", "proactive", "open"]

CATEGORIES: tuple[Category, ...] = ("real-time", "omni-source", "contextual")
CATEGORY_TITLES: dict[Category, str] = {
    "real-time": "Real-Time Visual Understanding",
    "omni-source": "Omni-Source Understanding",
    "contextual": "Contextual Understanding",
}


@dataclass(frozen=True, slots=True)
class Task:
    code: str  # the paper's abbreviation, e.g. "OP"
    name: str  # the paper's name
    file_name: str  # the task_type string in the annotation files
    category: Category
    kind: Kind = "choice"


TASKS: tuple[Task, ...] = (
    Task("OP", "Object Perception", "Object Recognition", "real-time"),
    Task("CR", "Causal Reasoning", "Causal Reasoning", "real-time"),
    Task("CS", "Clips Summarization", "Clips Summarize", "real-time"),
    Task("ATP", "Attribute Perception", "Attribute Recognition", "real-time"),
    Task("EU", "Event Understanding", "Event Understanding", "real-time"),
    Task("TR", "Text-Rich Understanding", "Text-Rich Understanding", "real-time"),
    Task("PR", "Prospective Reasoning", "Prospective Reasoning", "real-time"),
    Task("SU", "Spatial Understanding", "Spatial Understanding", "real-time"),
    Task("ACP", "Action Perception", "Action Recognition", "real-time"),
    Task("CT", "Counting", "Counting", "real-time"),
    Task("ER", "Emotion Recognition", "Emotion Recognition", "omni-source"),
    Task("SCU", "Scene Understanding", "Scene Understanding", "omni-source"),
    Task("SD", "Source Discrimination", "Source Discrimination", "omni-source"),
    Task("MA", "Multimodal Alignment", "Multimodal Alignment", "omni-source"),
    Task("ACU", "Anomaly Context Understanding", "Anomaly Context Understanding", "contextual"),
    Task("MCU", "Misleading Context Understanding", "Misleading Context Understanding", "contextual"),
    Task("SQA", "Sequential Question Answering", "Sequential Question Answering", "contextual"),
    Task("PO", "Proactive Output", "Proactive Output", "contextual", "proactive"),
)

OPEN = Task("OQ", "Open Question", "Open Question", "real-time", "open")

BY_CODE: dict[str, Task] = {t.code: t for t in TASKS}
_BY_NAME: dict[str, Task] = {
    **{t.file_name.casefold(): t for t in (*TASKS, OPEN)},
    **{t.name.casefold(): t for t in (*TASKS, OPEN)},
    **{t.code.casefold(): t for t in (*TASKS, OPEN)},
}


def task_for(name: str) -> Task | None:
    """The task for a file's ``task_type`` (or the paper's name or code); None when unknown."""
    return _BY_NAME.get(" ".join(name.split()).casefold())


def select_tasks(spec: str) -> frozenset[str]:
    """Task codes from a comma list of codes, names or categories (``"OP,TR,omni-source"``); raises on unknown."""
    codes: set[str] = set()
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part.casefold() in CATEGORIES:
            codes.update(t.code for t in TASKS if t.category == part.casefold())
            continue
        task = task_for(part)
        if task is None:
            known = ", ".join(t.code for t in TASKS)
            raise ValueError(f"unknown task {part!r}; use task codes ({known}), names or categories")
        codes.add(task.code)
    return frozenset(codes)
