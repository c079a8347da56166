"""Loader: every official annotation file, with its quirks, and malformed records reported by file and record."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from eval.loader import OFFICIAL_FILES, load_annotations, merge_options, parse_annotations, streamingbench_dir
from eval.tasks import BY_CODE, TASKS, select_tasks, task_for

SHARED = streamingbench_dir()
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"official StreamingBench annotations not found at {SHARED} (set OMNISTREAM_SHARED)"
)

# Totals from the StreamingBench paper and the shared README: real 2,500; omni file 1,500 (ER/SCU/SD/MA 1,000 +
# ACU 250 + MCU 250); SQA 250; proactive 250; the leaderboard's proactive subset 51.
TOTALS = {
    "questions_real.json": 2500,
    "questions_omni.json": 1500,
    "questions_sqa.json": 250,
    "questions_proactive.json": 250,
    "questions_proactive_50.json": 51,
    "questions_real_stream.json": 2495,
    "questions_omni_stream.json": 1500,
    "questions_sqa_stream.json": 250,
}


def _raw_task_counts(data: object) -> Counter[str]:
    """Count task_type strings by walking the JSON independently of the loader."""
    counts: Counter[str] = Counter()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "task_type" in node:
                counts[node["task_type"]] += 1
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data)
    return counts


@needs_shared
@pytest.mark.parametrize("name", OFFICIAL_FILES)
def test_every_official_file_loads_completely(name: str) -> None:
    ann = load_annotations(SHARED / name)
    assert ann.problems == []
    assert len(ann.items) == TOTALS[name]
    raw = _raw_task_counts(json.loads((SHARED / name).read_text()))
    loaded = Counter(i.task_type for i in ann.items)
    assert loaded == raw
    assert len({i.uid for i in ann.items}) == len(ann.items)
    for item in ann.items:
        if item.proactive:
            assert item.gt_output and item.gt_time_s is not None and item.gt_time_s >= item.time_s
        else:
            assert item.answer in "ABCDEFGH"[: len(item.options)]
            assert all(item.options)


@needs_shared
def test_leaderboard_counts_per_task_and_category() -> None:
    items = [i for f in ("questions_real.json", "questions_omni.json", "questions_sqa.json",
                         "questions_proactive_50.json") for i in load_annotations(SHARED / f).items]  # fmt: skip
    per_task = Counter(i.task.code for i in items)
    assert set(per_task) == {t.code for t in TASKS}
    assert sum(per_task[c] for c in ("OP", "CR", "CS", "ATP", "EU", "TR", "PR", "SU", "ACP", "CT")) == 2500
    assert all(per_task[c] == 250 for c in ("ER", "SCU", "SD", "MA", "ACU", "MCU", "SQA"))
    assert per_task["PO"] == 51
    assert len(items) == 4301
    per_category = Counter(i.task.category for i in items)
    assert per_category == {"real-time": 2500, "omni-source": 1000, "contextual": 801}


@needs_shared
def test_quirks_of_the_official_files() -> None:
    real = {i.uid: i for i in load_annotations(SHARED / "questions_real.json").items}
    repaired = [i for i in real.values() if i.note]
    assert [(i.record, i.time_s) for i in repaired] == [("[276].questions[1]", 765.0)]  # "00:12450" in [12:00-13:00]
    sqa = load_annotations(SHARED / "questions_sqa.json")
    first = sqa.items[0]
    assert first.record == "[0][0].questions[0]" and first.options == ("Wang chuqin.", "Fan Z.D.", "Xu xin.", "Ma Lin.")
    assert len({i.group for i in sqa.items}) == 50
    assert first.prompt().splitlines()[1:] == ["A. Wang chuqin.", "B. Fan Z.D.", "C. Xu xin.", "D. Ma Lin."]
    omni = {i.record: i for i in load_annotations(SHARED / "questions_omni.json").items}
    split = omni["[33].questions[0]"]  # six entries: two empty strings among the four lettered options
    assert len(split.options) == 4 and split.note == "6 option entries read as 4 options"
    continued = omni["[315].questions[0]"]  # option C broken over two entries
    assert continued.options[2].endswith("still got to pack for my trip tomorrow.'.")
    assert load_annotations(SHARED / "questions_sqa.json").items[150].options[0] == "Lebrun."  # lone "A.Lebrun."
    repeated = omni["[394].questions[0]"]  # A–D followed by a repeated B–D block
    assert len(repeated.options) == 4


def test_option_merging() -> None:
    assert merge_options(["A. x", "", "B. y", "tail", "C. z", "D. w", "D. again"]) == [
        "A. x",
        "B. y tail",
        "C. z",
        "D. w",
    ]
    assert merge_options(["x", "y", "", "z"]) == ["x", "y", "", "z"]  # unlettered lists are kept as they are


def test_task_names_map_to_the_papers_18_tasks() -> None:
    assert len(TASKS) == 18
    assert task_for("Object Recognition") is BY_CODE["OP"]
    assert task_for("clips  summarize") is BY_CODE["CS"]
    assert task_for("Attribute Perception") is BY_CODE["ATP"]
    assert task_for("Unknown Task") is None
    assert select_tasks("OP, omni-source") == {"OP", "ER", "SCU", "SD", "MA"}
    with pytest.raises(ValueError, match="unknown task 'XYZ'"):
        select_tasks("XYZ")


def test_malformed_records_are_named_and_skipped() -> None:
    good = {"task_type": "Counting", "question": "How many?", "time_stamp": "00:00:05", "answer": "B",
            "options": ["A. 1", "B. 2", "C. 3", "D. 4"]}  # fmt: skip
    late_truth = {"task_type": "Proactive Output", "question": "Say hi", "time_stamp": "00:00:09",
                  "ground_truth_time_stamp": "00:00:03", "ground_truth_output": "hi"}  # fmt: skip
    data = [
        {"time": "[0:00:00 - 0:00:10]", "video_path": "v.mp4", "questions": [good]},
        {"video_path": "v.mp4", "questions": [{**good, "task_type": "Juggling"}]},
        {"video_path": "v.mp4", "questions": [{**good, "time_stamp": "soon"}]},
        {"video_path": "v.mp4", "questions": [{**good, "answer": "E"}]},
        {"video_path": "v.mp4", "questions": [{**good, "options": "A. 1"}]},
        {"questions": [good]},
        "not an entry",
        {"video_path": "v.mp4", "questions": [late_truth]},
    ]
    ann = parse_annotations("bad.json", data)
    assert [i.record for i in ann.items] == ["[0].questions[0]"]
    messages = {p.record: p.message for p in ann.problems}
    assert all(p.file == "bad.json" for p in ann.problems)
    assert "unknown task type 'Juggling'" in messages["[1].questions[0]"]
    assert "malformed time stamp 'soon'" in messages["[2].questions[0]"]
    assert "answer 'E'" in messages["[3].questions[0]"]
    assert "options must be a list" in messages["[4].questions[0]"]
    assert "no video_path" in messages["[5].questions[0]"]
    assert "not an object" in messages["[6]"]
    assert "before the instruction" in messages["[7].questions[0]"]


def test_unreadable_file_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("[{")
    ann = load_annotations(path)
    assert ann.items == [] and ann.problems[0].file == "broken.json"
    assert "cannot read annotations" in ann.problems[0].message
