"""Scoring against hand-computed official numbers, the robust letter parser, the official-format copy and reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.loader import parse_annotations
from eval.replay import make_record
from eval.report import build_report, render_markdown, write_report
from eval.results import ResultsLog, write_official
from eval.scoring import official_choice, official_proactive, parse_letter, robust_proactive, summarize

OPTS = ["A. red", "B. blue", "C. green", "D. yellow"]


def _q(task: str, answer: str, t: str = "00:00:05") -> dict:
    return {"task_type": task, "question": "Which colour?", "time_stamp": t, "answer": answer, "options": OPTS}


def _po(gt: str, output: str) -> dict:
    return {"task_type": "Proactive Output", "question": f'When it turns, output "{output}".', "time_stamp": "00:00:02",
            "ground_truth_time_stamp": gt, "ground_truth_output": output}  # fmt: skip


FIXTURE = [
    {"video_path": "v1.mp4", "questions": [_q("Object Recognition", "B"), _q("Object Recognition", "C", "00:00:09")]},
    {"video_path": "v1.mp4", "questions": [_q("Counting", "A", "00:00:12"), _q("Text-Rich Understanding", "D", "20")]},
    {"video_path": "v2.mp4", "questions": [_q("Emotion Recognition", "A"), _q("Misleading Context Understanding", "B")]},  # noqa: E501
    {"video_path": "v3.mp4", "questions": [_q("Sequential Question Answering", "C")]},
    {"video_path": "v4.mp4", "questions": [_po("00:00:10", "go"), _po("00:00:20", "stop")]},
]  # fmt: skip
RESPONSES = ["B. blue", " C", "The answer is A", "A", "A", "b", "C) green"]
HISTORIES = [
    [{"role": "user", "time": 11, "content": "now?"}, {"role": "assistant", "time": 11, "content": "Go!"}],
    [{"role": "assistant", "time": 19, "content": "STOP."}, {"role": "assistant", "time": 25, "content": "no"}],
]


@pytest.fixture
def scored() -> tuple[list[dict], object]:
    ann = parse_annotations("fixture.json", FIXTURE)
    assert ann.problems == []
    choice = [i for i in ann.items if not i.proactive]
    active = [i for i in ann.items if i.proactive]
    records = [make_record(i, response=r, status="completed", ttft_ms=100.0 * (k + 1)) for k, (i, r) in
               enumerate(zip(choice, RESPONSES, strict=True))]  # fmt: skip
    records += [
        make_record(i, response=h[-1]["content"], dialog_history=h, answered=h[-1]["time"], status="polled")
        for i, h in zip(active, HISTORIES, strict=True)
    ]
    return records, ann


def test_official_and_robust_numbers_match_hand_computation(scored: tuple[list[dict], object]) -> None:
    records, _ = scored
    assert [r["official"] for r in records] == [True, False, False, False, True, False, True, True, False]
    assert [r["robust"] for r in records] == [True, True, True, False, True, False, True, True, True]
    s = summarize(records)
    # official: 4 of 9 correct; robust: 7 of 9
    assert (s["overall"]["total"], s["overall"]["official"], s["overall"]["robust"]) == (9, 44.44, 77.78)
    assert (s["categories"]["real-time"]["official"], s["categories"]["real-time"]["robust"]) == (25.0, 75.0)
    assert (s["categories"]["omni-source"]["official"], s["categories"]["omni-source"]["robust"]) == (100.0, 100.0)
    assert (s["categories"]["contextual"]["total"], s["categories"]["contextual"]["official"]) == (4, 50.0)
    assert s["categories"]["contextual"]["robust"] == 75.0
    assert s["tasks"]["OP"]["official_correct"] == 1 and s["tasks"]["OP"]["robust_correct"] == 2
    assert s["tasks"]["PO"]["official"] == 50.0 and s["tasks"]["PO"]["robust"] == 100.0


def test_official_rules() -> None:
    assert official_choice("B", "B") and not official_choice("", "B") and not official_choice("b", "B")
    on_time = [{"time": 12, "content": "Red nine"}]
    assert official_proactive(on_time, 10.0, "red nine")
    assert not official_proactive([{"time": 12.5, "content": "Red nine"}], 10.0, "red nine")  # 2.5 s late
    assert not official_proactive([{"time": 10, "content": "nine"}], 10.0, "red nine")
    assert not official_proactive([], 10.0, "x")
    assert robust_proactive([{"role": "assistant", "time": 8, "content": "red, nine"}], 10.0, "Red nine")


@pytest.mark.parametrize(
    ("text", "letter"),
    [("B", "B"), ("(C) green", "C"), ("Answer: d", "D"), ("The best option is A.", "A"), ("It is green.", "C"),
     ("A", "A"), ("I'd say B or C", None), ("", None), ("b", None), ("red or blue", None)],
)  # fmt: skip
def test_robust_letter_parser(text: str, letter: str | None) -> None:
    assert parse_letter(text, ["red", "blue", "green", "yellow"]) == letter


def test_official_copy_reports_and_log(scored: tuple[list[dict], object], tmp_path: Path) -> None:
    records, ann = scored
    skipped = make_record(ann.items[0], skipped="video not found: v1.mp4")
    log = ResultsLog(tmp_path / "results.jsonl")
    for record in records:
        log.append(record)
    (path,) = write_official([ann], {r["uid"]: r for r in records}, "my-model", tmp_path / "official")
    data = json.loads(path.read_text())
    assert data[0]["questions"][0]["my-model"] == "B. blue"
    assert data[4]["questions"][1]["my-model"]["dialog_history"][-1] == {
        "role": "assistant",
        "time": 25,
        "content": "no",
    }
    assert data[4]["questions"][0]["my-model"]["answered"] == 11
    assert "my-model" not in json.dumps(FIXTURE)  # the input was not modified
    report = build_report([*records[1:], skipped], ann.problems, {"model": "my-model", "wall_s": 1.0})
    assert report["scores"]["overall"]["total"] == 8
    assert report["skipped"] == [{"file": "fixture.json", "record": "[0].questions[0]", "video": "v1.mp4",
                                  "reason": "video not found: v1.mp4"}]  # fmt: skip
    assert report["ttft_ms"]["n"] == 6 and report["ttft_ms"]["p50"] == 450.0
    assert "video not found: v1.mp4" in render_markdown(report)
    paths = write_report(report, tmp_path)
    assert json.loads(paths["json"].read_text())["scores"] == report["scores"]
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| **overall** | 8 |" in paths["md"].read_text()


def test_results_log_resumes_and_survives_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    log = ResultsLog(path)
    log.append({"uid": "a", "skipped": None})
    log.append({"uid": "b", "skipped": "video not found"})
    with path.open("a") as f:
        f.write('{"uid": "c", "resp')  # killed mid-write
    again = ResultsLog(path)
    assert again.finished() == {"a"} and again.torn_lines == 1
    again.append({"uid": "c", "skipped": None})
    assert ResultsLog(path).finished() == {"a", "c"}


def _count_py_proactive(data: list, model: str) -> list[tuple[bool, bool]]:
    """The official ``count.py`` rules for proactive items, per question: counted when the model's key is there; on time
    when the last ``dialog_history`` entry is within -2…+2 s of the ground truth; right when, on time, that entry
    contains the ground-truth output (case-sensitive). It reads ``history[-1]`` unguarded."""
    out = []
    for entry in data:
        for question in entry["questions"]:
            if model not in question:
                continue
            gt = sum(int(x) * 60**i for i, x in enumerate(reversed(question["ground_truth_time_stamp"].split(":"))))
            last = question[model]["dialog_history"][-1]
            on_time = -2 <= last["time"] - gt <= 2
            out.append((on_time, on_time and question["ground_truth_output"] in last["content"]))
    return out


def test_never_fired_instruction_is_written_as_the_official_harness_writes_it(tmp_path: Path) -> None:
    """An instruction that never fired has an empty history in our log; the official copy carries the last poll the
    official protocol makes (ground truth + 4 s, nothing said), so count.py reads it, and both score it wrong."""
    data = [{"video_path": "v.mp4", "questions": [_po("00:00:10", "go"), _po("00:00:20", "stop"),
                                                  _po("00:00:30", "red"), _po("00:00:40", "blue")]}]  # fmt: skip
    ann = parse_annotations("p.json", data)
    fired = [{"role": "assistant", "time": 21.0, "content": "stop"}]
    late = [{"role": "assistant", "time": 33.0, "content": "red"}]
    polled = [{"role": "user", "time": 44, "content": "now?"}, {"role": "assistant", "time": 44, "content": "no"}]
    histories = [[], fired, late, polled]
    records = [make_record(i, response=h[-1]["content"] if h else "", dialog_history=h,
                           answered=h[-1]["time"] if h else False, status="proactive")
               for i, h in zip(ann.items, histories, strict=True)]  # fmt: skip
    assert records[0]["dialog_history"] == [] and records[0]["official"] is False
    (path,) = write_official([ann], {r["uid"]: r for r in records}, "m", tmp_path)
    written = json.loads(path.read_text())
    never = written[0]["questions"][0]["m"]
    assert never["answered"] is False
    poll = 'When it turns, output "go". Is it the right time to output "go"? You can only answer yes or no.'
    assert [(h["role"], h["time"], h["content"]) for h in never["dialog_history"]] == [
        ("user", 14.0, poll), ("assistant", 14.0, "")]  # fmt: skip
    assert written[0]["questions"][1]["m"]["dialog_history"] == fired  # fired histories are written as they are
    official = _count_py_proactive(written, "m")
    assert official == [(False, False), (True, True), (False, False), (False, False)]
    assert [right for _, right in official] == [r["official"] for r in records]
    report = build_report(records, [], {"model": "m"})
    assert report["scores"]["tasks"]["PO"]["official_correct"] == sum(right for _, right in official) == 1
    with pytest.raises(IndexError):  # what count.py did on the empty history we used to write
        _count_py_proactive([{"questions": [{**data[0]["questions"][0], "m": {"dialog_history": []}}]}], "m")
