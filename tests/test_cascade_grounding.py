"""The cascade's grounding check on adversarial answers, what a question asks (intents), and sentence cutting."""

from __future__ import annotations

import pytest

from engine.backends.cascade.backend import CascadeContext
from engine.backends.cascade.grounding import Grounds, sentences, support, ungrounded
from engine.backends.cascade.intents import read_intent
from engine.backends.cascade.objects import SeenObject
from engine.backends.cascade.people import SeenPerson
from engine.backends.cascade.scene_log import Entry
from engine.cancel import CancelToken
from engine.vision.types import Label

CAT = SeenObject(
    "cat", "Egyptian cat", 0.8, (0.2, 0.2, 0.8, 0.8), "centre", ("orange", "brown"), (("orange", 0.5), ("brown", 0.4))
)


@pytest.fixture(scope="module")
def grounds() -> Grounds:
    """A cat in view, the sign 'OPEN 24H' at the top, a blue background, one person standing, and a remark heard."""
    return Grounds.of(
        [
            Entry("colour", "blue 60% whole frame, orange 20% centre", 0.0, 4.5),
            Entry("object", CAT.describe(), 0.0, 4.5, "centre", CAT),
            Entry("count", "1 cat", 0.0, 4.5, facts={"cat": 1}),
            Entry("labels", "Egyptian cat (cat)", 0.0, 4.5, facts=(Label("Egyptian cat", 0.7),)),
            Entry("text", "OPEN 24H", 1.0, 4.5, "top"),
            Entry(
                "people",
                "1: a person on the left, standing",
                2.0,
                4.5,
                facts=(SeenPerson("left", ("standing",), True),),
            ),
            Entry("speech", "the train leaves at nine", 2.0, 3.0),
        ]
    )


@pytest.mark.parametrize(
    ("sentence", "problems"),
    [
        ('The screen says "OPEN 24H".', []),
        ("The screen says OPEN 24H at the top.", []),
        ('The screen says "OPEN 24 H".', []),  # OCR splits words: spaces don't count
        ('The screen says "EXIT".', ["text 'EXIT'"]),  # the old prompt's worked example
        ("The sign reads SALE.", ["text 'SALE'"]),
        ("I see an orange and brown cat in the centre.", []),
        ("I see a kitten and an animal.", []),  # a synonym and a kind of what was seen
        ("I see a black Labrador.", ["thing 'labrador'", "colour 'black' of the dog"]),
        ("The cat is green.", ["colour 'green' of the cat"]),
        ("The background is blue.", []),
        ("The background is purple.", ["colour 'purple'"]),
        ("I see two cats.", ["count 2 of cat"]),
        ("I see one cat and 1 person.", []),
        ("There is no dog here, and I don't see any cars.", []),  # negated things are not claims
        ("I see a vehicle.", ["thing 'vehicle'"]),
        ("The train leaves at nine.", []),
        ("The train leaves at 10:30.", ["number 10", "number 30"]),
        ("From 1.0 to 4.5 s the screen said OPEN 24H.", []),
        ("At 9.0 s the cat left.", ["time 9.0 s"]),
        ("The picture is 60% blue.", []),
    ],
)
def test_claims_the_evidence_does_not_hold_are_named(grounds: Grounds, sentence: str, problems: list[str]) -> None:
    assert ungrounded(sentence, grounds) == problems


def test_conversation_is_checked_only_where_it_claims_to_perceive(grounds: Grounds) -> None:
    assert ungrounded("One, two, three, four, five.", grounds, about_stream=False) == []
    assert ungrounded("Once upon a time a robot met a dog.", grounds, about_stream=False) == []
    assert ungrounded("I can see a dog on the screen.", grounds, about_stream=False) == ["thing 'dog'"]
    assert ungrounded("Once upon a time five cats met.", grounds, about_stream=False) == []
    assert ungrounded("I see five cats.", grounds, about_stream=False) == ["count 5 of cat"]


def test_a_sentence_rests_on_the_entries_of_what_it_quotes_and_names() -> None:
    """Timeline: a cat 0-4.5 s and again 8-9 s, 'OPEN 24H' read 1-4.5 s, a cut at 6 s, a dog 6-7 s."""
    dog = SeenObject("dog", "dog", 0.7, (0, 0, 1, 1), "left", ("black",))
    log = [
        Entry("object", CAT.describe(), 0.0, 4.5, "centre", CAT, number=1),
        Entry("text", "OPEN 24H", 1.0, 4.5, "top", number=2),
        Entry("scene", "the picture cut to a different view", 6.0, 6.0, number=3),
        Entry("object", "dog", 6.0, 7.0, "left", dog, number=4),
        Entry("object", CAT.describe(), 8.0, 9.0, "centre", CAT, number=5),
    ]

    def rests_on(sentence: str) -> list[int]:
        return [e.number for e in support(sentence, log)]

    assert rests_on("I see a cat in the centre.") == [5]  # the latest cat, when no time is said
    assert rests_on("Not right now, but I saw a cat at 4.5 s.") == [1]  # the one that ended then
    assert rests_on('The screen says "OPEN 24H" (at the top).') == [2]
    assert rests_on("No, I don't see a dog.") == []  # a denial rests on nothing seen
    assert rests_on("At 6.0 s the picture cut, and a dog appeared.") == [3, 4]
    assert rests_on("Hello! How can I help?") == []


def test_pieces_become_sentences_as_soon_as_each_is_complete() -> None:
    pieces = iter(["Hello the", "re. I see", ' a cat! The sign says "OPEN', ' 24H". And', " then at 3.5 s"])
    cut = sentences(pieces)
    assert next(cut) == "Hello there."
    assert next(cut) == "I see a cat!"
    assert list(cut) == ['The sign says "OPEN 24H".', "And then at 3.5 s"]


def test_the_first_ungrounded_sentence_ends_the_answer_and_stops_decoding(grounds: Grounds) -> None:
    decoded: list[str] = []

    def model() -> object:
        for piece in ["The cat is orange. ", 'The screen says "EXIT". ', "It is open all night."]:
            decoded.append(piece)
            yield piece

    out = list(CascadeContext._checked(model(), grounds, CancelToken(), about_stream=True, said=["I see a cat."]))
    assert out == [" The cat is orange."]
    assert len(decoded) == 2  # the model was stopped at the rejected sentence, not run to its end
    repeated = iter(["I see a cat. ", "I see a cat. ", "More."])
    assert list(CascadeContext._checked(repeated, grounds, CancelToken(), about_stream=True)) == ["I see a cat."]


@pytest.mark.parametrize(
    ("question", "kind", "detail"),
    [
        ("Say hello in one short sentence.", "chat", ""),
        ("What can you do?", "chat", ""),
        ("Count to ten.", "chat", ""),
        ("Tell me a long story about a robot.", "chat", "long"),
        ("What is written on the screen right now?", "text", ""),
        ("What did the sign say a moment ago?", "text", ""),
        ("What did she say?", "heard", ""),
        ("How many people are there?", "count", "person"),
        ("What colour is the cup?", "colour", "cup"),
        ("Describe the colours on the screen in detail.", "colour", "long"),
        ("What is on the left side of the screen?", "side", "left"),
        ("What do you see right now?", "describe", ""),  # "right now" is not a side
        ("What animal do you see?", "describe", "animal"),
        ("Where is the kitten?", "where", "cat"),
        ("What was shown just before the rocket?", "before", "rocket"),
        ("Is there a dog?", "presence", "dog"),
        ("Is someone waving?", "people", "person"),
        ("Is anything moving right now?", "motion", ""),
        ("Why is it so dark?", "notes", ""),
    ],
)
def test_what_a_question_asks(question: str, kind: str, detail: str) -> None:
    intent = read_intent(question)
    assert intent.kind == kind
    if detail == "long":
        assert intent.long
    elif detail in ("left", "right"):
        assert intent.side == detail
    elif detail:
        assert detail in intent.concepts | intent.kinds
