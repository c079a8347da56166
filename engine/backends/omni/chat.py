"""Chat layouts of the supported model families, as the text the stream's segments are built from.

The stream lives inside one open user turn: the prompt segment opens it, dialogue segments close it, replay the
turns and open it again, and a question closes it, asks and opens the assistant's turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.backends.base import Turn


@dataclass(frozen=True, slots=True)
class ChatFormat:
    begin: str  # once, before the system turn
    role: str  # turn opening; ``{role}`` / ``{Role}`` are filled in
    text_sep: str  # between a turn's opening and its text
    end: str  # closes a turn
    stop_tokens: tuple[str, ...]  # tokens that end an answer

    def opening(self, role: str) -> str:
        return self.role.format(role=role, Role=role.capitalize())

    def prompt(self, system: str) -> str:
        return f"{self.begin}{self.opening('system')}{self.text_sep}{system}{self.end}{self.opening('user')}"

    def dialogue(self, turns: Sequence[Turn]) -> str:
        replay = "".join(f"{self.end}{self.opening(t.role)}{self.text_sep}{t.text}" for t in turns)
        return f"{replay}{self.end}{self.opening('user')}"

    def question(self, query: str, instructions: str = "") -> str:
        """Closes the stream's turn, adds the client's ``instructions`` as a system turn, asks ``query``."""
        system = f"{self.end}{self.opening('system')}{self.text_sep}{instructions}" if instructions else ""
        ask = f"{self.end}{self.opening('user')}{self.text_sep}{query}"
        return f"{system}{ask}{self.end}{self.opening('assistant')}"


CHATML = ChatFormat("", "<|im_start|>{role}\n", "", "<|im_end|>\n", ("<|im_end|>", "<|endoftext|>"))
SMOLVLM = ChatFormat("<|im_start|>", "{Role}:", " ", "<end_of_utterance>\n", ("<end_of_utterance>",))
