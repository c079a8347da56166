"""Text a voice can say: streamed answer text cut into sentences, and each sentence made speakable.

``SentenceSplitter`` hands out whole sentences as the answer streams in. ``speakable`` rewrites what a voice would
stumble on: numbers become words (num2words), a URL becomes its host ("example dot com"), markup, emoji and other
symbols are dropped, and for a voice that reads only Latin script (the English Piper voice) words in other scripts
are skipped. ``clauses`` cuts a long sentence at its commas and semicolons so that one synthesis call stays short.
"""

from __future__ import annotations

import re
import unicodedata

from num2words import num2words

_BOUNDARY = re.compile(r"(?<=[.!?;:…])\s+|\n+")
_URL = re.compile(r"\b(?:https?://|www\.)([^\s/?#]+)[^\s]*", re.IGNORECASE)
_EMAIL = re.compile(r"\b([\w.+-]+)@([\w-]+(?:\.[\w-]+)+)\b")
_CURRENCY = re.compile(r"([$€£])\s?(\d+(?:,\d{3})*(?:\.\d+)?)")
_CURRENCY_NAMES = {"$": "dollars", "€": "euros", "£": "pounds"}
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w])")
_TIME = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b")
_PERCENT = re.compile(r"(\d)\s?%")
_CLAUSE = re.compile(r"(?<=[,;:—–])\s+")
_SPACES = re.compile(r"\s+")
_SPOKEN_PUNCTUATION = set(".,;:!?'-\"()")


class SentenceSplitter:
    """Collects streamed text and hands out whole sentences; a run-on longer than ``max_chars`` is cut at a space."""

    def __init__(self, max_chars: int = 200) -> None:
        self.max_chars = max_chars
        self._buf = ""

    def feed(self, text: str) -> list[str]:
        self._buf += text
        parts = _BOUNDARY.split(self._buf)
        self._buf = parts.pop()
        out = [p.strip() for p in parts if p.strip()]
        while len(self._buf) > self.max_chars:
            cut = self._buf.rfind(" ", 0, self.max_chars)
            cut = cut if cut > 0 else self.max_chars
            out.append(self._buf[:cut].strip())
            self._buf = self._buf[cut:].lstrip()
        return out

    def flush(self) -> str | None:
        rest, self._buf = self._buf.strip(), ""
        return rest or None


def _number(match: re.Match[str]) -> str:
    raw = match.group(0).replace(",", "")
    try:
        value = float(raw) if "." in raw else int(raw)
    except ValueError:
        return raw
    if isinstance(value, int) and abs(value) >= 10**15:
        return " ".join(num2words(int(d)) for d in raw.lstrip("-"))  # an id or a phone number: digit by digit
    if isinstance(value, int) and len(raw) == 4 and 1100 <= value <= 2099:
        return f" {num2words(value, to='year')} "  # 1990: nineteen ninety
    return " " + num2words(value).replace(",", "") + " "


def _clock_time(match: re.Match[str]) -> str:
    hours, minutes = match.group(1), int(match.group(2))
    if minutes == 0:
        return f"{hours} o'clock"
    return f"{hours} oh {minutes}" if minutes < 10 else f"{hours} {minutes}"


def _keep(ch: str, latin_only: bool) -> bool:
    """Whether a character is something a voice can say (letters, digits, spaces, plain punctuation)."""
    if ch.isspace() or ch in _SPOKEN_PUNCTUATION:
        return True
    category = unicodedata.category(ch)
    if category[0] == "N":
        return True
    if category[0] != "L":
        return False  # symbols, emoji, marks on their own, control and private-use characters
    return not latin_only or "LATIN" in unicodedata.name(ch, "")


def speakable(text: str, *, latin_only: bool = True) -> str:
    """``text`` as words a voice can say ('' when nothing is left, e.g. only emoji)."""
    text = unicodedata.normalize("NFKC", text)
    text = _URL.sub(lambda m: " link to " + m.group(1).removeprefix("www.").replace(".", " dot ") + " ", text)
    text = _EMAIL.sub(lambda m: f"{m.group(1)} at {m.group(2).replace('.', ' dot ')}", text)
    text = _CURRENCY.sub(lambda m: f"{m.group(2)} {_CURRENCY_NAMES[m.group(1)]}", text)
    text = _PERCENT.sub(r"\1 percent", text)
    text = _TIME.sub(_clock_time, text)
    text = text.replace("°", " degrees ")
    text = _ORDINAL.sub(lambda m: f" {num2words(int(m.group(1)), to='ordinal')} ", text)
    text = _NUMBER.sub(_number, text)
    text = text.replace("&", " and ").replace("+", " plus ").replace("=", " equals ")
    text = "".join(ch if _keep(ch, latin_only) else " " for ch in text)
    text = _SPACES.sub(" ", text).strip()
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return text if any(ch.isalnum() for ch in text) else ""


def clauses(sentence: str, max_chars: int = 80) -> list[str]:
    """``sentence`` as it is, or cut after commas, semicolons and dashes into pieces of at most about ``max_chars``
    (a clause without such a mark is cut at a space)."""
    if len(sentence) <= max_chars:
        return [sentence]
    out: list[str] = []
    for part in _CLAUSE.split(sentence):
        if out and len(out[-1]) + 1 + len(part) <= max_chars:
            out[-1] = f"{out[-1]} {part}"
            continue
        while len(part) > max_chars:
            cut = part.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            out.append(part[:cut].strip())
            part = part[cut:].strip()
        if part:
            out.append(part)
    return out
