"""Word normalisation shared by retrieval and multiple-choice matching: lower case, spelling variants, plural -s."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z]+|[0-9]+")  # letters and digits split apart: OCR often drops the space in "EXIT42"
_SPELLING = {"color": "colour", "colors": "colour", "grey": "gray", "center": "centre", "colored": "coloured"}


def wordset(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text`` as a set (for writing word lists compactly)."""
    return frozenset(text.split())


STOPWORDS = wordset(
    """a an the and or but of to in on at by for with from into onto over under is are was were be been being am do
    does did done have has had this that these those there here it its it's i you he she we they them his her their our
    your my me what which who whom whose when where why how can could would should will shall may might must not no yes
    as if then than so too very just about any some all each every both either neither only own same other such s t
    up down out off again once also into per via let lets shown show shows showing seen see see saw visible appear
    appears appeared video frame picture image clip stream currently current now"""
)


MOTION = wordset("move moves moving moved movement motion")  # words that ask about or watch for movement
_COUNTING = """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
    seventeen eighteen nineteen twenty"""
NUMBER_WORDS: dict[str, int] = {word: n for n, word in enumerate(_COUNTING.split())}


def normalise(word: str) -> str:
    word = _SPELLING.get(word, word)
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word


def words(text: str) -> list[str]:
    """All normalised words of ``text``, in order (stopwords kept)."""
    return [normalise(w) for w in _WORD.findall(text.lower())]


def content_words(text: str) -> set[str]:
    """The normalised words of ``text`` that carry meaning (stopwords removed)."""
    return {normalise(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS}
