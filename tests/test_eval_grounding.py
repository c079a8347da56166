"""The grounding audit of open answers on adversarial answers: invented text, objects, colours and counts are caught;
negations, times and OCR's joined words are not held against an answer; the report counts what it found."""

from __future__ import annotations

import pytest

from eval.grounding import audit, audit_records, concept
from eval.loader import parse_annotations
from eval.replay import make_record
from eval.report import build_report, render_markdown

CAT = {
    "things": {"cat": {"colours": ["brown", "grey", "white", "black"]}},
    "counts": {"cat": [1]},
    "also": ["eye", "nose", "whiskers"],
    "colours": ["green", "pink"],
    "text": [],
}
CATS = {
    "things": {"cat": {"colours": ["brown", "grey"]}},
    "counts": {"cat": [2, 3]},
    "also": [],
    "colours": [],
    "text": [],
}
GARAGE = {
    "things": {"motorcycle": {"colours": ["red", "black", "grey"]}},
    "counts": {"motorcycle": [1]},
    "also": ["bicycle", "bench", "box", "garage", "shelf"],
    "colours": ["brown", "white"],
    "text": ["YAMAHA", "MAXIM 400"],
}
PAGE = {
    "things": {"page": {"colours": ["grey", "white"]}},
    "counts": {"page": [1]},
    "also": ["paper"],
    "colours": ["black"],
    "text": ["Region-based segmentation", "histogram of grey values:"],
}


def _ungrounded(answer: str, scene: dict) -> list[tuple[str, str]]:
    return [(c.kind, c.value) for c in audit(answer, scene) if c.status == "ungrounded"]


@pytest.mark.parametrize(
    ("answer", "scene", "caught"),
    [
        ('The screen says "EXIT".', CAT, [("text", "EXIT")]),  # the prompt's worked example, over a scene with no text
        ("The sign reads OPEN 24H.", CAT, [("text", "OPEN 24H")]),
        ("It says open late tonight.", CAT, [("text", "open late tonight")]),
        ("I can see a dog next to the cat.", CAT, [("object", "dog")]),
        ("A black Labrador lies by a jellyfish.", CAT, [("object", "Labrador"), ("object", "jellyfish")]),
        ("The cat is blue.", CAT, [("colour", "blue")]),
        ("A purple kitten.", CAT, [("colour", "purple")]),
        ("There are three cats.", CAT, [("number", "three cats")]),
        ("I count 4 cats.", CATS, [("number", "4 cats")]),
        ("The motorcycle is green and the label says 'HONDA'.", GARAGE, [("text", "HONDA"), ("colour", "green")]),
        ("A red car is parked in the garage.", GARAGE, [("object", "car")]),
        ("The page is numbered 42.", PAGE, [("number", "42")]),
    ],
)
def test_invented_claims_are_caught(answer: str, scene: dict, caught: list[tuple[str, str]]) -> None:
    assert sorted(_ungrounded(answer, scene)) == sorted(caught)


def test_an_unknown_noun_is_not_seen_and_its_colour_is_checked_against_the_scene() -> None:
    # "axolotl" is not in the vocabulary (a known limit); "black" is a colour of this scene (the cat's stripes)
    claims = audit("There is a black axolotl.", CAT)
    assert [(c.kind, c.status) for c in claims] == [("colour", "grounded")]


@pytest.mark.parametrize(
    ("answer", "scene"),
    [
        ("I see a cat.", CAT),
        ("A brown tabby kitten with green eyes and white whiskers.", CAT),
        ("There is no text on the screen.", CAT),
        ("Nothing is written on the screen; I don't see any dog or horse, only an animal.", CAT),
        (
            "I did not see or hear anything about that. Most recently I noted: [3.0-9.5s] colours: grey 60% whole "
            "frame",
            CAT,
        ),
        ("There are two cats, and at 12.5 s there were 3 cats.", CATS),
        ('The screen says "Region-based segmentation" and "histogram ofgreyvalues:".', PAGE),  # OCR joins words
        ('It reads "Reg1on-based segmentaton".', PAGE),  # one-letter OCR slips
        ("A red Yamaha motorcycle; the tank says YAMAHA and the side MAXIM 400.", GARAGE),
        ("A red motorbike in a garage with a bicycle and a bench.", GARAGE),
        ("The text on the page mentions segmentation.", PAGE),
    ],
)
def test_true_answers_have_no_ungrounded_claims(answer: str, scene: dict) -> None:
    claims = audit(answer, scene)
    assert _ungrounded(answer, scene) == [], claims


def test_claims_are_found_not_just_absent() -> None:
    kinds = {(c.kind, c.status) for c in audit('Two red motorcycles, and it says "YAMAHA".', GARAGE)}
    assert kinds == {("object", "grounded"), ("colour", "grounded"), ("text", "grounded"), ("number", "ungrounded")}
    assert concept("kittens") == "cat" and concept("motorbike") == "motorcycle" and concept("galaxies") == "galaxy"
    (claim,) = [c for c in audit("Three boxes on the shelf.", GARAGE) if c.kind == "number"]
    assert claim.status == "unchecked"  # boxes are in the scene but were never counted


def test_report_counts_ungrounded_claims_of_open_answers_only() -> None:
    data = [
        {
            "video_path": "v.mp4",
            "questions": [
                {
                    "task_type": "Open Question",
                    "question": "What is written on the screen?",
                    "time_stamp": "00:00:03",
                    "scene": CAT,
                },
                {"task_type": "Open Question", "question": "What do you see?", "time_stamp": "00:00:05", "scene": CAT},
                {
                    "task_type": "Object Recognition",
                    "question": "Which animal?",
                    "time_stamp": "00:00:06",
                    "answer": "A",
                    "options": ["A. A cat.", "B. A dog.", "C. A cow.", "D. A bird."],
                },
            ],
        }
    ]
    ann = parse_annotations("q.json", data)
    assert ann.problems == [] and [i.task.kind for i in ann.items] == ["open", "open", "choice"]
    assert ann.items[0].prompt() == "What is written on the screen?" and ann.items[0].scene == CAT
    answers = ['The screen says "EXIT".', "A brown cat.", "B. A dog."]  # the MCQ answer names a dog: not audited
    records = [make_record(i, response=a, status="completed") for i, a in zip(ann.items, answers, strict=True)]
    scenes = {i.uid: i.scene for i in ann.items if i.scene is not None}
    report = build_report(records, [], {"model": "m"}, scenes)
    g = report["grounding"]
    assert (g["open_answers"], g["claims"], g["ungrounded"]) == (2, 3, 1)  # EXIT; cat, brown
    assert g["by_kind"]["text"] == {"claims": 1, "ungrounded": 1}
    assert g["ungrounded_claims"][0]["value"] == "EXIT" and g["ungrounded_claims"][0]["time_s"] == 3.0
    assert report["scores"]["overall"]["total"] == 1  # open questions are not in the accuracy
    assert "**1 ungrounded**" in render_markdown(report) and "text: EXIT" in render_markdown(report)
    assert audit_records(records, {})["open_answers"] == 0
