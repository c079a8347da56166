"""Manual turns' audio: what a client sent since its last commit or clear, cut into turns by stream position.

Chunks are numbered in the order the session accepts them. A commit or clear names the position it covers
(``through``: the number of chunks the session will have accepted by then), and takes effect once that many have
arrived, so audio still on its way when the client commits belongs to the turn it meant.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar

from streams.items import AudioChunk

Commit = TypeVar("Commit")


class TurnAudio(Generic[Commit]):
    """Uncommitted audio, at most ``max_seconds`` of it (the oldest goes first), and the commits and clears due.

    ``Commit`` is whatever the caller wants back with a committed turn (the session uses a future); a clear is a
    mark without one."""

    def __init__(self, max_seconds: float) -> None:
        self.max_seconds = max_seconds
        self.received = 0  # chunks accepted so far: the positions marks refer to
        self._chunks: deque[tuple[int, AudioChunk]] = deque()
        self._marks: deque[tuple[int, Commit | None]] = deque()
        self._capped = False

    def add(self, chunk: AudioChunk, *, keep: bool) -> bool:
        """Count a chunk the session accepted and, with ``keep``, hold it for the next turn. True when holding it
        dropped the oldest audio for the first time since the last commit or clear (worth telling the client)."""
        self.received += 1
        if not keep:
            return False
        self._chunks.append((self.received, chunk))
        dropped = False
        while self._chunks[-1][1].end - self._chunks[0][1].t > self.max_seconds:
            self._chunks.popleft()
            dropped = True
        first = dropped and not self._capped
        self._capped = self._capped or dropped
        return first

    def mark(self, commit: Commit | None, through: int | None = None) -> None:
        """A commit (``commit`` given) or a clear (None) of the audio up to position ``through`` (None: now)."""
        self._marks.append((self.received if through is None else through, commit))

    @property
    def waiting(self) -> bool:
        """A commit or clear is waiting for audio still to arrive."""
        return bool(self._marks)

    def due(self) -> Iterator[tuple[list[AudioChunk], Commit | None]]:
        """The marks whose audio has all arrived, in order, each with the chunks it takes (a clear's are dropped)."""
        while self._marks and self._marks[0][0] <= self.received:
            through, commit = self._marks.popleft()
            turn = []
            while self._chunks and self._chunks[0][0] <= through:
                turn.append(self._chunks.popleft()[1])
            self._capped = False
            yield turn, commit

    def reset(self) -> list[Commit]:
        """Drop the held audio and every waiting mark; returns the commits that will not happen."""
        dropped = [commit for _, commit in self._marks if commit is not None]
        self._chunks.clear()
        self._marks.clear()
        self._capped = False
        return dropped
