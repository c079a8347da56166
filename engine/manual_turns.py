"""Manual turns: the client ends turns (``Session.commit_audio`` / ``clear_audio``) instead of the VAD. The audio it
sent since its last commit or clear is cut by stream position (``TurnAudio``); a commit becomes one turn for
listening to transcribe, addressed to the assistant, and is waited for by a response asked for before its transcript
exists."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

from engine.listening import Listening
from engine.options import SessionOptions
from engine.segmenter import Utterance
from engine.turn_audio import TurnAudio
from streams.items import SAMPLE_RATE, AudioChunk


class ManualTurns:
    def __init__(
        self,
        *,
        options: Callable[[], SessionOptions],
        listening: Listening,
        error: Callable[[str, str], None],
        new_turn_id: Callable[[], str],
    ) -> None:
        self.options = options
        self.listening = listening
        self.error = error
        self.new_turn_id = new_turn_id
        self._audio: TurnAudio[tuple[str, asyncio.Future[None]]] = TurnAudio(options().vad.max_utterance_s)
        self._commits: list[asyncio.Future[None]] = []  # commits whose turn is not transcribed yet

    def hear(self, chunk: AudioChunk) -> None:
        """Count a chunk the session accepted (held for the next turn while turns are manual); commits due run."""
        if self._audio.add(chunk, keep=self.options().turns.manual_turns):
            limit = self._audio.max_seconds
            self.error("input", f"uncommitted audio is over {limit:g} s long: its oldest part is dropped")
        self._run_marks()

    def commit(self, through: int | None) -> str:
        self._require()
        turn_id = self.new_turn_id()
        committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._commits = [*self.pending(), committed]
        self._audio.mark((turn_id, committed), through)
        self._run_marks()
        return turn_id

    def clear(self, through: int | None) -> None:
        self._require()
        self._audio.mark(None, through)
        self._run_marks()

    def pending(self) -> list[asyncio.Future[None]]:
        """The commits whose turn is not transcribed yet (each a future done once it is)."""
        self._commits = [f for f in self._commits if not f.done()]
        return list(self._commits)

    @property
    def waiting_for_audio(self) -> bool:
        """A commit or clear waits for audio still to be released to the session (fast replay)."""
        return self._audio.waiting

    def reset(self) -> None:
        """Turn taking changed hands: uncommitted audio and the commits still waiting for theirs are dropped."""
        for _, committed in self._audio.reset():
            committed.set_result(None)

    def _require(self) -> None:
        if not self.options().turns.manual_turns:
            raise RuntimeError("committing or clearing audio needs manual turns (TurnOptions.manual_turns)")

    def _run_marks(self) -> None:
        for turn, commit in self._audio.due():
            if commit is not None:
                self._commit_turn(turn, *commit)

    def _commit_turn(self, chunks: list[AudioChunk], turn_id: str, committed: asyncio.Future[None]) -> None:
        ms = sum(len(chunk.samples) for chunk in chunks) * 1000 / SAMPLE_RATE
        least = self.options().turns.min_commit_ms
        if ms < least or self.listening.transcriber is None:
            self.error("input", f"committed audio is {ms:.0f} ms long: a turn needs at least {least} ms")
            committed.set_result(None)
            return
        utt = Utterance(start=chunks[0].t, end=chunks[-1].end, samples=np.concatenate([c.samples for c in chunks]))
        self.listening.transcribe_committed(utt, turn_id, committed)
