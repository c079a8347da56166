"""Reading StreamingBench annotation files into flat, validated items.

Accepts every shape the official files use: a list of entries ``{time, questions[], video_path, …}``
(``questions_real.json``, ``questions_omni.json``, ``questions_proactive*.json`` and the ``*_stream.json`` variants,
where each question also carries its own ``time`` and an ``audio_path``) and the SQA file's list of per-video lists of
entries. A record that cannot be used becomes a ``Problem`` naming the file and the record; loading goes on.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.tasks import Task, task_for
from eval.timestamps import TimestampError, parse_timestamp, parse_window, repair_timestamp

LETTERS = "ABCDEFGH"
OFFICIAL_FILES = (
    "questions_real.json",
    "questions_omni.json",
    "questions_sqa.json",
    "questions_proactive.json",
    "questions_proactive_50.json",
    "questions_real_stream.json",
    "questions_omni_stream.json",
    "questions_sqa_stream.json",
)
LEADERBOARD_FILES = (
    "questions_real.json",
    "questions_omni.json",
    "questions_sqa.json",
    "questions_proactive_50.json",
)
_PREFIX = re.compile(r"^\s*\(?([A-H])[.):]\s*")

JsonPath = tuple[int | str, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """A record that was skipped, or an item that could not be evaluated, and why."""

    file: str
    record: str
    message: str

    def __str__(self) -> str:
        return f"{self.file} {self.record}: {self.message}"


@dataclass(frozen=True, slots=True)
class Item:
    """One question, flattened, with where it sits in its file (``path``) so answers can be written back."""

    uid: str
    file: str
    record: str
    path: JsonPath
    task: Task
    task_type: str
    video: str
    group: str
    time_s: float
    question: str
    options: tuple[str, ...] = ()
    answer: str = ""
    audio_path: str | None = None
    gt_time_s: float | None = None
    gt_output: str | None = None
    note: str = ""
    scene: dict[str, Any] | None = field(default=None, compare=False)  # open questions: the ground truth shown

    @property
    def proactive(self) -> bool:
        return self.task.kind == "proactive"

    @property
    def open(self) -> bool:
        return self.task.kind == "open"

    def prompt(self) -> str:
        """The question as posed to the session: the stem, then one ``A. …`` line per option."""
        lines = [self.question.strip()]
        lines += [f"{LETTERS[i]}. {option}" for i, option in enumerate(self.options)]
        return "\n".join(lines)


@dataclass
class Annotations:
    """One loaded file: the raw JSON (for writing answers back), its items, and the records that were skipped."""

    file: str
    path: Path
    data: Any
    items: list[Item] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def shared_dir() -> Path:
    """The shared data folder: ``$OMNISTREAM_SHARED``, else ``shared/`` beside the repository."""
    env = os.environ.get("OMNISTREAM_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"


def streamingbench_dir() -> Path:
    return shared_dir() / "streamingbench"


def strip_option(text: str, index: int) -> str:
    """``"B. Red."`` → ``"Red."`` when the prefix letter is the option's own; other text is kept as it is."""
    m = _PREFIX.match(text)
    if m and m.group(1) == LETTERS[index]:
        return text[m.end() :].strip()
    return text.strip()


def merge_options(raw: list[str]) -> list[str]:
    """Options as intended when the file split or repeated them (a few omni records do).

    Applies only to lettered lists (the first starts with ``A.`` and another with ``B.``): an entry without a letter
    prefix continues the previous option (empty ones are dropped), and once four options exist a letter that does not
    advance starts a repeated block, which is dropped.
    """
    letters = [m.group(1) if (m := _PREFIX.match(text)) else "" for text in raw]
    if not letters or letters[0] != "A" or "B" not in letters:
        return list(raw)
    out: list[str] = []
    last = ""
    for text in raw:
        m = _PREFIX.match(text)
        if m is None:
            if out and text.strip():
                out[-1] = f"{out[-1]} {text.strip()}"
            continue
        if len(out) >= 4 and m.group(1) <= last:
            break
        out.append(text)
        last = m.group(1)
    return out


def _record_name(path: JsonPath) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _entries(data: Any) -> Iterator[tuple[JsonPath, Any, str]]:
    """(path, entry, group suffix) for every entry, flattening the SQA file's per-video lists."""
    for i, element in enumerate(data):
        if isinstance(element, list):
            for j, entry in enumerate(element):
                yield (i, j), entry, f"#{i}"
        else:
            yield (i,), element, ""


def _time(question: dict[str, Any], key: str, window: tuple[float, float] | None) -> tuple[float, str]:
    text = question.get(key)
    if not isinstance(text, str):
        raise TimestampError(f"missing or non-string {key!r}")
    try:
        return parse_timestamp(text), ""
    except TimestampError:
        value = repair_timestamp(text, window)
        return value, f"{key} {text!r} read as {value:.0f} s"


def _window(question: dict[str, Any], entry: dict[str, Any]) -> tuple[float, float] | None:
    for source in (question, entry):
        text = source.get("time")
        if isinstance(text, str):
            try:
                return parse_window(text)
            except TimestampError:
                return None
    return None


def _item(file: str, qpath: JsonPath, entry: dict[str, Any], question: Any, group_suffix: str) -> Item:
    if not isinstance(question, dict):
        raise ValueError(f"question is a {type(question).__name__}, not an object")
    video = entry.get("video_path")
    if not isinstance(video, str) or not video.strip():
        raise ValueError("entry has no video_path")
    task_type = question.get("task_type")
    if not isinstance(task_type, str):
        raise ValueError("missing task_type")
    task = task_for(task_type)
    if task is None:
        raise ValueError(f"unknown task type {task_type!r}")
    text = question.get("question")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("missing question text")
    window = _window(question, entry)
    time_s, note = _time(question, "time_stamp", window)
    audio = question.get("audio_path")
    common: dict[str, Any] = {
        "uid": f"{file}{_record_name(qpath)}",
        "file": file,
        "record": _record_name(qpath),
        "path": qpath,
        "task": task,
        "task_type": task_type,
        "video": video,
        "group": f"{file}::{video}{group_suffix}",
        "time_s": time_s,
        "question": text.strip(),
        "audio_path": audio if isinstance(audio, str) else None,
        "note": note,
    }
    if task.kind == "proactive":
        gt_time, _ = _time(question, "ground_truth_time_stamp", None)
        output = question.get("ground_truth_output")
        if not isinstance(output, str) or not output.strip():
            raise ValueError("proactive question without ground_truth_output")
        if gt_time < time_s:
            raise ValueError(f"ground-truth time {gt_time:.0f} s is before the instruction at {time_s:.0f} s")
        return Item(**common, gt_time_s=gt_time, gt_output=output.strip())
    if task.kind == "open":
        scene = question.get("scene")
        if scene is not None and not isinstance(scene, dict):
            raise ValueError(f"scene is a {type(scene).__name__}, not an object")
        return Item(**common, scene=scene)
    options = question.get("options")
    if not isinstance(options, list) or len(options) < 2 or not all(isinstance(o, str) for o in options):
        raise ValueError("options must be a list of at least two strings")
    if len(options) > len(LETTERS):
        raise ValueError(f"{len(options)} options; at most {len(LETTERS)} are supported")
    answer = question.get("answer")
    if not isinstance(answer, str) or answer.strip().upper() not in LETTERS[: len(options)]:
        raise ValueError(f"answer {answer!r} is not one of the {len(options)} option letters")
    merged = merge_options(options)
    if len(merged) != len(options):
        note = "; ".join(x for x in (note, f"{len(options)} option entries read as {len(merged)} options") if x)
        common["note"] = note
    if answer.strip().upper() not in LETTERS[: len(merged)]:
        raise ValueError(f"answer {answer!r} is not one of the {len(merged)} option letters")
    stripped = tuple(strip_option(o, i) for i, o in enumerate(merged))
    return Item(**common, options=stripped, answer=answer.strip().upper())


def parse_annotations(file: str, data: Any, path: Path | None = None) -> Annotations:
    """Flatten already-parsed JSON; every unusable record is a ``Problem`` and is left out."""
    out = Annotations(file=file, path=path or Path(file), data=data)
    if not isinstance(data, list):
        out.problems.append(Problem(file, "(top level)", f"expected a list of entries, got {type(data).__name__}"))
        return out
    for epath, entry, suffix in _entries(data):
        if not isinstance(entry, dict) or not isinstance(entry.get("questions"), list):
            out.problems.append(Problem(file, _record_name(epath), "entry is not an object with a questions list"))
            continue
        for k, question in enumerate(entry["questions"]):
            qpath: JsonPath = (*epath, "questions", k)
            try:
                out.items.append(_item(file, qpath, entry, question, suffix))
            except (ValueError, TimestampError) as exc:
                out.problems.append(Problem(file, _record_name(qpath), str(exc)))
    return out


def load_annotations(path: str | Path) -> Annotations:
    """Load one annotation file; an unreadable file is a single ``Problem``, not an exception."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))  # a byte-order mark (Windows editors) is allowed
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        out = Annotations(file=path.name, path=path, data=None)
        out.problems.append(Problem(path.name, "(file)", f"cannot read annotations: {exc}"))
        return out
    return parse_annotations(path.name, data, path)


def select(items: Iterable[Item], *, tasks: frozenset[str] | None = None, limit: int | None = None) -> list[Item]:
    """Items of the given task codes, at most ``limit`` of them, in file order."""
    chosen = [i for i in items if tasks is None or i.task.code in tasks]
    return chosen if limit is None else chosen[:limit]


def item_at(data: Any, path: JsonPath) -> dict[str, Any]:
    """The question object at ``path`` inside a loaded file."""
    node = data
    for key in path:
        node = node[key]
    return node  # type: ignore[no-any-return]
