"""The chat messages the language model answers from: what it is, the timed observation notes, dialogue, question."""

from __future__ import annotations

from collections.abc import Sequence

from engine.backends.base import Turn
from engine.backends.cascade.llm import Message
from engine.backends.cascade.scene_log import Entry

SYSTEM = (
    "You answer questions about a live video stream. You cannot see the video: you only get notes from detectors "
    "(text read on screen, main colours, movement, scene changes) and transcripts of what was heard, each with its "
    "time in seconds. Reply with one short sentence using only the notes, and quote text exactly as noted. If the "
    "notes do not contain the answer, say that you could not see or hear it."
)
# Worked examples shown before the real question: a 135M model follows a pattern far better than an instruction.
EXAMPLES: tuple[tuple[str, str, str], ...] = (
    (
        "[3.0-9.5s] text on screen: 'OPEN 24 HOURS'\n[3.0-9.5s] colours: blue 60% whole frame",
        "What is written on the screen?",
        'The screen says "OPEN 24 HOURS".',
    ),
    (
        "[1.0-4.0s] text on screen: 'SALE'\n[1.0-4.0s] colours: yellow 75% whole frame\n"
        "[2.5s] heard: 'everything must go'",
        "What colour is the background?",
        "The background is yellow.",
    ),
    (
        "[0.0-6.0s] text on screen: 'ROOM 12'\n[4.0s] heard: 'the meeting starts at ten'",
        "When does the meeting start?",
        "The meeting starts at ten.",
    ),
    (
        "[0.0-5.0s] text on screen: 'EXIT'\n[0.0-5.0s] colours: gray 60% whole frame",
        "Who is standing by the door?",
        'I could not see that: my notes only mention the text "EXIT" and gray colours.',
    ),
)
NOTHING_OBSERVED = (
    "I have no observations from the stream for that time (no text on screen, colours, movement or speech were "
    "recorded), so I cannot answer that."
)
STOP = ("\n\n",)  # a blank line ends the reply: answers are meant to be short, and the small model rambles after one
_TURN_CHARS = 300  # earlier turns are cut to this many characters


def nothing_relevant(entries: Sequence[Entry], recent: int = 3) -> str:
    """The honest reply when no observation bears on the question: say so, and what was noticed last."""
    latest = "; ".join(entry.line() for entry in entries[-recent:])
    return (
        "I did not see or hear anything about that. I can only read text on screen, name colours, notice movement "
        f"and scene changes, and hear speech. Most recently I noted: {latest}"
    )


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


def system(instructions: str = "") -> str:
    """The system prompt, ending with the client's instructions when it gave any."""
    instructions = instructions.strip()
    return f"{SYSTEM}\n\n{instructions}" if instructions else SYSTEM


def open_question(
    question: str,
    t: float,
    entries: Sequence[Entry],
    history: Sequence[Turn],
    max_turns: int = 4,
    instructions: str = "",
) -> list[Message]:
    """Messages for a free-form question asked at stream time ``t``; earlier turns are quoted, not replayed."""
    messages: list[Message] = [{"role": "system", "content": system(instructions)}]
    for example_notes, example_question, example_answer in EXAMPLES:
        messages.append({"role": "user", "content": f"Notes:\n{example_notes}\n\nQuestion: {example_question}"})
        messages.append({"role": "assistant", "content": example_answer})
    user = (
        f"{_history(history, max_turns)}Notes (up to {t:.1f}s):\n{notes(entries)}\n\nQuestion at {t:.1f}s: {question}"
    )
    messages.append({"role": "user", "content": user})
    return messages


def choice_question(stem: str, options: Sequence[str], t: float, entries: Sequence[Entry]) -> list[Message]:
    """Messages for a multiple-choice question; the reply to score is ``"<letter>. <option>"``."""
    listed = "\n".join(f"{chr(ord('A') + i)}. {option}" for i, option in enumerate(options))
    user = (
        f"Notes (up to {t:.1f}s):\n{notes(entries)}\n\nQuestion at {t:.1f}s: {stem}\n{listed}\n"
        "Reply with the letter and text of the correct option."
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
