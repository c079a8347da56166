"""Responding: accepted user turns become answers, as livekit/agents' ``AgentActivity`` does for its session. A turn
said to the assistant (typed, let through by the gate, or committed) is accepted (``query.accepted``) and either
answered at once, together with every turn still waiting, or kept waiting for ``create_response``. One response is in
flight at a time: a new answer cuts it, speech pauses it (barge-in), and it resumes when no query follows within
``TurnOptions.false_interruption_timeout_s`` or is cancelled once the speech lasts ``interrupt_after_s``. A response
streams the backend's answer (or the engine's own reply to a standing instruction) in the ``answer`` thread, and its
end adds both sides to the dialogue ``History`` and its time to first token to the session's metrics.

Speculation: when listening hears words that look like a finished turn said to the assistant, the backend starts
answering them before the turn's silence is over, silently (no event, nothing held as pending work). If the turn
ends with those words and they are answered on their own, that response is adopted: ``response.started`` and what was
decoded so far come out at once. Otherwise (the speaker went on, other words, a typed question, a standing
instruction) it is cancelled and nothing of it is ever shown or spoken."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from engine.backends.base import AnswerRequest, BackendContext, Turn
from engine.cancel import CancelToken
from engine.choices import split_choices
from engine.events import (
    Event,
    QueryAccepted,
    QueryIgnored,
    QuerySource,
    ResponseDelta,
    ResponseDone,
    ResponsePaused,
    ResponseResumed,
    ResponseStarted,
)
from engine.gate import GateDecision
from engine.options import SessionOptions
from engine.proactive import is_standing
from engine.session_metrics import SessionMetrics
from engine.work import Held, Work
from streams.clock import Clock


class History:
    """The dialogue so far, oldest first; the oldest turns go once ``ResponseOptions.max_history`` are kept."""

    def __init__(self, max_turns: Callable[[], int]) -> None:
        self.max_turns = max_turns
        self.turns: list[Turn] = []

    def add(self, turn: Turn) -> None:
        self.turns.append(turn)
        excess = len(self.turns) - self.max_turns()
        if excess > 0:
            del self.turns[:excess]

    def truncate(self, response_id: str, heard: str) -> bool:
        """Keep only ``heard`` of a finished answer (the listener stopped hearing it there); False when none."""
        for i in range(len(self.turns) - 1, -1, -1):
            turn = self.turns[i]
            if turn.role == "assistant" and turn.response_id == response_id:
                self.turns[i] = dataclasses.replace(turn, text=heard, interrupted=True)
                return True
        return False

    def last(self, n: int) -> tuple[Turn, ...]:
        """The latest ``n`` turns (none when ``n`` is 0 or less)."""
        return tuple(self.turns[len(self.turns) - n :] if n > 0 else ())


@dataclass
class _Response:
    response_id: str
    query_id: str
    query: str
    t: float
    turn_end_wall: float
    accepted_wall: float
    token: CancelToken
    task: asyncio.Task[None] | None = None
    delivered: str = ""
    first_delta_wall: float | None = None
    paused_at: float | None = None  # stream time of the speech onset that paused it
    held: list[str] = field(default_factory=list)  # pieces decoded while paused
    unpaused: asyncio.Event = field(default_factory=asyncio.Event)
    instructions: str | None = None  # this response's own instructions (None: the session's)
    speculative: bool = False  # decoding ahead of the turn's end: nothing is emitted until it is adopted
    decoded: int = 0  # characters of text the backend has given so far (delivered or held)
    cited: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)  # (decoded so far, evidence) as reported

    def evidence(self) -> tuple[str, ...]:
        """What the delivered text rests on: the last evidence reported before the last delivered character."""
        return next((ids for at, ids in reversed(self.cited) if at < len(self.delivered)), ())


@dataclass(frozen=True, slots=True)
class _Cited:
    """The backend's evidence for the text after it, passed in order with the text."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Waiting:
    """An accepted turn not answered yet."""

    query_id: str
    text: str
    t: float
    turn_end_wall: float
    reply: str | None  # the engine's own reply (the turn set or cancelled standing instructions); None: the model's


class Responder:
    def __init__(
        self,
        *,
        context: BackendContext,
        clock: Clock,
        work: Work,
        options: Callable[[], SessionOptions],
        metrics: SessionMetrics,
        history: History,
        ids: Iterator[int],
        new_turn_id: Callable[[], str],
        take_standing: Callable[[str, str], str | None],
        emit: Callable[[Event], None],
        error: Callable[[str, str], None],
    ) -> None:
        self.context = context
        self.clock = clock
        self.work = work
        self.options = options
        self.metrics = metrics
        self.history = history
        self.ids = ids
        self.new_turn_id = new_turn_id
        self.take_standing = take_standing
        self.emit = emit
        self.error = error
        self._response: _Response | None = None
        self._waiting: list[_Waiting] = []  # accepted turns to be answered together by the next response
        self._speculation: _Response | None = None  # answering words whose turn has not ended yet

    # ------------------------------------------------------------------ turns from listening
    def on_spoken_query(self, turn_id: str, text: str, ended_wall: float, decision: GateDecision | None) -> None:
        """Listening heard a turn said to the assistant: committed by the client (``decision`` None) or let through
        by the gate."""
        if decision is None:
            self._accept(turn_id, text, "speech", ended_wall, reason="committed by the client", respond=False)
            return
        turns = self.options().turns
        self._accept(
            turn_id,
            text,
            "speech",
            ended_wall,
            reason=decision.reason,
            score=decision.score,
            respond=turns.auto_response,
            interrupt=turns.barge_in,
        )

    # ------------------------------------------------------------------ speculation
    def speculate(self, text: str) -> None:
        """Listening heard words that look like a finished turn said to the assistant: start answering them now,
        unless this turn would not simply be answered (answers wait for the client, a response is in flight, turns
        wait, or the words set or cancel standing instructions)."""
        self.drop_speculation()
        turns = self.options().turns
        if not turns.auto_response or turns.manual_turns or self._response is not None or self._waiting:
            return
        if is_standing(text):
            return
        response = _Response(
            response_id="",
            query_id="",
            query=text,
            t=self.clock.now(),
            turn_end_wall=0.0,
            accepted_wall=0.0,
            token=CancelToken(),
            speculative=True,
        )
        self._speculation = response
        response.task = self.work.spawn(self._respond(response, None), "speculation")

    def drop_speculation(self) -> None:
        """The words speculated on will not be this turn's: stop that work; nothing of it was emitted."""
        response, self._speculation = self._speculation, None
        if response is not None:
            response.token.cancel("speculation dropped")
            if response.task is not None:
                response.task.cancel()

    def _adopt(self, response: _Response, turn: _Waiting) -> None:
        """The turn ended with the words speculated on: the response comes out as if started now."""
        response.response_id = f"r{next(self.ids)}"
        response.query_id = turn.query_id
        response.turn_end_wall = turn.turn_end_wall
        response.accepted_wall = time.monotonic()
        self._response = response
        if response.task is not None and not response.task.done():
            held = self.work.hold()  # pending work from now on, like any response decoding
            response.task.add_done_callback(lambda _: held.release())
        self._started(response)
        response.speculative = False
        if response.held and response.paused_at is None:
            self._deliver(response, "".join(response.held))
            response.held.clear()
        if response.paused_at is None:
            response.unpaused.set()

    # ------------------------------------------------------------------ barge-in
    def on_onset(self, t: float) -> None:
        """Speech began: pause a streaming response and decide later whether this was a real interruption."""
        response = self._response
        turns = self.options().turns
        if response is None or not turns.barge_in or response.paused_at is not None:
            return
        response.paused_at = t
        self.emit(ResponsePaused(t=self.clock.now(), response_id=response.response_id, reason="speech started"))

        def no_query() -> None:
            if self._response is response and response.paused_at == t:
                self._resume(response, f"false interruption: no query within {turns.false_interruption_timeout_s:g} s")

        self.work.at(t + turns.false_interruption_timeout_s, no_query)

    def on_voiced(self, onset: float, until: float) -> None:
        """Voice activity since ``onset`` continued up to ``until``: speech long enough turns a pause into an
        interruption."""
        response = self._response
        limit = self.options().turns.interrupt_after_s
        if response is None or response.paused_at != onset or until - onset < limit:
            return
        self.cancel("interrupted", f"barge-in: speech longer than {limit:g} s")

    def _resume(self, response: _Response, reason: str) -> None:
        self.emit(ResponseResumed(t=self.clock.now(), response_id=response.response_id, reason=reason))
        response.paused_at = None
        if response.held:
            self._deliver(response, "".join(response.held))
            response.held.clear()
        response.unpaused.set()

    def _deliver(self, response: _Response, text: str) -> None:
        if response.first_delta_wall is None:
            response.first_delta_wall = time.monotonic()
        response.delivered += text
        self.emit(ResponseDelta(t=self.clock.now(), response_id=response.response_id, text=text))

    # ------------------------------------------------------------------ typed turns and asked-for responses
    def submit_text(self, text: str, *, t: float | None, turn_id: str | None, standing: bool) -> str:
        """A typed turn, answered at once (``Session.submit_text``); returns its id."""
        turn_id = turn_id or self.new_turn_id()
        if not text.strip():
            self.emit(
                QueryIgnored(
                    t=self.clock.now() if t is None else t,
                    turn_id=turn_id,
                    text=text,
                    source="text",
                    reason="empty text",
                )
            )
        elif not self._too_long(turn_id, text, t):
            self._accept(turn_id, text.strip(), "text", time.monotonic(), standing=standing)
        return turn_id

    def _too_long(self, turn_id: str, text: str, t: float | None) -> bool:
        """Refuse a typed question over ``ResponseOptions.max_query_chars`` (an error and ``query.ignored``)."""
        limit = self.options().response.max_query_chars
        if len(text) <= limit:
            return False
        reason = f"text too long: {len(text)} characters, the limit is {limit}"
        self.emit(
            QueryIgnored(
                t=self.clock.now() if t is None else t, turn_id=turn_id, text=text[:200], source="text", reason=reason
            )
        )
        self.error("input", f"typed question refused: {reason}")
        return True

    def create_response(
        self,
        text: str,
        instructions: str | None,
        *,
        commits: list[asyncio.Future[None]],
        asr_chain: asyncio.Task[None] | None,
        waiting_for_audio: bool,
    ) -> bool:
        """Answer ``text`` and the waiting turns now (``Session.create_response``), once the manual ``commits`` and
        the transcription ``asr_chain`` in progress are through; ``waiting_for_audio``: a commit waits for audio
        still to be released, so the wait is not pending work (fast replay waits for idle first)."""
        turns = self.options().turns
        chain = asr_chain
        if chain is None or chain.done() or (turns.auto_response and not turns.manual_turns):
            chain = None  # with automatic answers a turn being transcribed is answered by itself
        text = text.strip()
        turn_id = self.new_turn_id() if text else ""
        if text and self._too_long(turn_id, text, None):
            text = ""
        if not (text or self._waiting or commits or chain):
            return False
        if text:
            self._accept(turn_id, text, "text", time.monotonic(), respond=False, interrupt=False)
        if not commits and chain is None:
            self._answer_waiting(instructions)
            return True
        held = None if waiting_for_audio else self.work.hold()
        self.work.spawn(self._answer_when_transcribed(commits, chain, instructions), "create-response", held)
        return True

    async def _answer_when_transcribed(
        self,
        commits: list[asyncio.Future[None]],
        chain: asyncio.Task[None] | None,
        instructions: str | None,
    ) -> None:
        await asyncio.gather(*commits)
        if chain is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(chain)
        if not self._answer_waiting(instructions):
            self.error("input", "a response was requested, but no turn was accepted to answer")

    # ------------------------------------------------------------------ accepting and answering
    def _accept(
        self,
        turn_id: str,
        text: str,
        source: QuerySource,
        turn_end_wall: float,
        *,
        reason: str = "",
        score: float | None = None,
        respond: bool = True,
        interrupt: bool = True,
        standing: bool = True,
    ) -> None:
        """Accept a turn: answer it (with any turns waiting) when ``respond``, else keep it waiting; a waiting turn
        still cuts the response in flight when ``interrupt``. With ``standing`` a turn that sets or cancels standing
        instructions does so now, and the engine itself replies to it."""
        query_id = f"q{next(self.ids)}"
        now = self.clock.now()
        self.emit(
            QueryAccepted(
                t=now, turn_id=turn_id, query_id=query_id, text=text, source=source, reason=reason, score=score
            )
        )
        reply = self.take_standing(query_id, text) if standing else None
        self._waiting.append(_Waiting(query_id, text, now, turn_end_wall, reply))
        if respond:
            self._answer_waiting(None)
        elif interrupt and self._response is not None:
            self.cancel("interrupted", f"new turn {query_id}")

    def _answer_waiting(self, instructions: str | None) -> bool:
        """Start one response to every waiting turn (cutting the one in flight); False when none waits."""
        if not self._waiting:
            return False
        waiting, self._waiting = self._waiting, []
        last = waiting[-1]
        speculated, self._speculation = self._speculation, None
        if (
            speculated is not None
            and self._response is None
            and len(waiting) == 1
            and last.reply is None
            and instructions is None
            and last.text == speculated.query
        ):
            self._adopt(speculated, last)
            return True
        if speculated is not None:
            self._speculation = speculated
            self.drop_speculation()
        if self._response is not None:
            self.cancel("interrupted", f"new query {last.query_id}")
        query = "\n".join(turn.text for turn in waiting)
        response = _Response(
            response_id=f"r{next(self.ids)}",
            query_id=last.query_id,
            query=query,
            t=last.t,
            turn_end_wall=last.turn_end_wall,
            accepted_wall=time.monotonic(),
            token=CancelToken(),
            instructions=instructions,
        )
        self._response = response
        decoding = self.work.hold()
        replies = [turn.reply for turn in waiting if turn.reply is not None]
        reply = " ".join(replies) if replies else None
        response.task = self.work.spawn(self._respond(response, decoding, reply), response.response_id, decoding)
        return True

    def cancel(self, status: str, reason: str) -> bool:
        """End the response in flight with ``status`` (``cancelled`` or ``interrupted``); False when none."""
        self.drop_speculation()
        response = self._response
        if response is None:
            return False
        self._response = None
        response.token.cancel(reason)
        if response.task is not None:
            response.task.cancel()
        self._close(response, status, reason)
        return True

    def _close(self, response: _Response, status: str, reason: str = "") -> None:
        ttft = latency = None
        if response.first_delta_wall is not None:
            ttft = round((response.first_delta_wall - response.accepted_wall) * 1000, 1)
            latency = round((response.first_delta_wall - response.turn_end_wall) * 1000, 1)
            self.metrics.answered(ttft)
        self.emit(
            ResponseDone(
                t=self.clock.now(),
                response_id=response.response_id,
                status=status,  # type: ignore[arg-type]
                text=response.delivered,
                reason=reason,
                ttft_ms=ttft,
                latency_ms=latency,
                evidence=response.evidence(),
            )
        )
        self.history.add(Turn("user", response.query, response.t))
        self.history.add(
            Turn(
                "assistant",
                response.delivered,
                self.clock.now(),
                interrupted=status != "completed",
                response_id=response.response_id,
            )
        )

    def _started(self, response: _Response) -> None:
        self.emit(
            ResponseStarted(
                t=self.clock.now(), response_id=response.response_id, query_id=response.query_id, query=response.query
            )
        )

    async def _respond(self, response: _Response, decoding: Held | None, reply: str | None = None) -> None:
        """Stream the backend's answer to the response's query, or ``reply`` when the engine answers itself;
        ``decoding``: this response as pending work (None for a speculation)."""
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[object] = asyncio.Queue()
        done = object()
        _, choices = split_choices(response.query)
        o = self.options().response
        request = AnswerRequest(
            query=response.query,
            t=response.t,
            history=self.history.last(o.history_turns),
            context_seconds=o.context_seconds,
            max_new_tokens=o.max_new_tokens,
            choices=choices,
            instructions=o.instructions if response.instructions is None else response.instructions,
            on_evidence=lambda ids: loop.call_soon_threadsafe(pieces.put_nowait, _Cited(tuple(ids))),
        )
        token = response.token

        def decode() -> None:
            try:
                for piece in self.context.answer(request, token) if reply is None else [reply]:
                    if token.cancelled:
                        break
                    loop.call_soon_threadsafe(pieces.put_nowait, piece)
                loop.call_soon_threadsafe(pieces.put_nowait, done)
            except Exception as exc:
                loop.call_soon_threadsafe(pieces.put_nowait, exc)

        if not response.speculative:
            self._started(response)
        self.work.submit("answer", decode)
        while True:
            piece = await pieces.get()
            if piece is done:
                break
            if isinstance(piece, Exception):
                if response.speculative:
                    return  # answered again, and the failure reported, if the turn ends with these words
                self.error("backend", f"answering failed: {type(piece).__name__}: {piece}")
                if self._response is response:
                    self._response = None
                    self._close(response, "failed", f"{type(piece).__name__}: {piece}")
                return
            if isinstance(piece, _Cited):
                response.cited.append((response.decoded, piece.ids))
                continue
            text = str(piece)
            if not text:
                continue
            response.decoded += len(text)
            if response.paused_at is not None or response.speculative:
                response.held.append(text)
            else:
                self._deliver(response, text)
        if response.paused_at is not None or response.speculative:
            # decoded completely while paused or ahead of its turn: wait (not as pending work) to go on or be cut
            if decoding is not None:
                decoding.release()
            await response.unpaused.wait()
        if self._response is response:
            self._response = None
            self._close(response, "completed")
