"""The chat messages the language model answers from: what it is, the timed observation notes, dialogue, question."""

from __future__ import annotations

from collections.abc import Sequence

from engine.backends.base import Turn
from engine.backends.cascade.llm import Message
from engine.backends.cascade.scene_log import Entry

SYSTEM = (
    "You answer questions about a live video stream. You cannot see the video: you get notes from recognition models "
    "(the objects, animals and people in view with their own colours and places, text read on screen, the main "
    "colours, movement, scene changes) and transcripts of what was heard, each with its time in seconds. Use only "
    "the notes and quote text exactly as noted. Never name a thing, colour, number or text that the notes do not have."
)
CHAT_SYSTEM = (
    "You are omnistream, a friendly voice assistant. You watch a live video and listen: you can name the things, "
    "animals and people you see, read text, tell colours, count things and say where they are, and tell the user when "
    "something appears. Do what the user asks."
)
# Shown before a request that is not about the stream: a 135M model follows a pattern far better than an instruction.
CHAT_EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "What are you?",
        "I am omnistream. I watch your video and listen, name the things, animals and people I see, read text, tell "
        "colours, count things, and tell you when something appears.",
    ),
    ("Say good night.", "Good night! Sleep well."),
    ("Count to four.", "One, two, three, four."),
)
NOTHING_OBSERVED = (
    "I have no observations from the stream for that time yet (nothing seen, read or heard), so I cannot answer that."
)
STOP = ("\n\n",)  # a blank line ends a short reply: the small model rambles after one
_TURN_CHARS = 300  # earlier turns are cut to this many characters


def notes(entries: Sequence[Entry]) -> str:
    return "\n".join(entry.line() for entry in entries) or "(no observations)"


def _history(history: Sequence[Turn], max_turns: int) -> str:
    lines = []
    for turn in list(history)[-max_turns:] if max_turns else []:
        text = " ".join(turn.text.split())[:_TURN_CHARS]
        if turn.role == "assistant" and turn.interrupted:
            text = f"{text} [interrupted]" if text else "[interrupted before answering]"
        lines.append(f"[{turn.t:.1f}s] {turn.role}: {text}")
    return "Earlier conversation:\n" + "\n".join(lines) + "\n\n" if lines else ""


def system(instructions: str = "", base: str = SYSTEM) -> str:
    """The system prompt (``base``), ending with the client's instructions when it gave any."""
    instructions = instructions.strip()
    return f"{base}\n\n{instructions}" if instructions else base


def open_question(
    question: str,
    t: float,
    entries: Sequence[Entry],
    history: Sequence[Turn],
    max_turns: int = 4,
    instructions: str = "",
) -> list[Message]:
    """Messages for a free-form question asked at stream time ``t``; earlier turns are quoted, not replayed."""
    user = (
        f"{_history(history, max_turns)}Notes (up to {t:.1f}s):\n{notes(entries)}\n\nQuestion at {t:.1f}s: {question}"
    )
    return [{"role": "system", "content": system(instructions)}, {"role": "user", "content": user}]


def chat(request: str, history: Sequence[Turn], max_turns: int = 4, instructions: str = "") -> list[Message]:
    """Messages for a request that is not about the stream ("say hello", "what can you do?")."""
    messages: list[Message] = [{"role": "system", "content": system(instructions, CHAT_SYSTEM)}]
    for example, reply in CHAT_EXAMPLES:
        messages += [{"role": "user", "content": example}, {"role": "assistant", "content": reply}]
    return [*messages, {"role": "user", "content": f"{_history(history, max_turns)}{request}"}]


def choice_question(stem: str, options: Sequence[str], t: float, entries: Sequence[Entry]) -> list[Message]:
    """Messages for a multiple-choice question; the reply to score is ``"<letter>. <option>"``."""
    listed = "\n".join(f"{chr(ord('A') + i)}. {option}" for i, option in enumerate(options))
    user = (
        f"Notes (up to {t:.1f}s):\n{notes(entries)}\n\nQuestion at {t:.1f}s: {stem}\n{listed}\n"
        "Reply with the letter and text of the correct option."
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
