"""The session: the engine's public API and the wiring of its rooms, each a file of its own.

``Session`` runs and stops, takes input (sources, ``submit_text``, manual turns, ``create_response``, cancel,
truncate, playback), and hands the work to: ``Ingest`` (sources merged or fed live, queues, lag, the backend's
ingest), ``Listening`` (VAD, echo, segmenter, transcription, gate; it calls back through ``ListeningHooks``),
``StandingInstructions``, ``ManualTurns``, ``EventBus`` (subscribers) and ``Work`` (worker threads:
``ingest``, ``vad``, ``asr``, ``answer``; tasks, pending work, stream-time timers). What stays here is turn
acceptance and responding: waiting turns, the response in flight, pause / resume / false interruption and history.

Pacing. File sources and scheduled text are merged by timestamp and released by the clock: in realtime as the media
time comes due, in fast replay as soon as the engine is idle (no pending work in ``Work``), so a fast replay emits the
same events at the same stream times as a realtime one that keeps up. Live sources feed independently, stamped by
the clock as they capture.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.backends.base import AnswerRequest, BackendContext, Turn
from engine.cancel import CancelToken
from engine.choices import split_choices
from engine.echo import EchoGuard
from engine.event_bus import EventBus, EventStream
from engine.events import (
    Error,
    Event,
    Metrics,
    QueryAccepted,
    QueryIgnored,
    QuerySource,
    ResponseDelta,
    ResponseDone,
    ResponsePaused,
    ResponseResumed,
    ResponseStarted,
    SessionEnded,
    SessionStarted,
)
from engine.gate import AnswerEverything, GateDecision, QueryPolicy
from engine.ingest import Ingest
from engine.listening import Listening, ListeningHooks
from engine.manual_turns import ManualTurns
from engine.options import ResponseOptions, SessionOptions, TurnOptions
from engine.proactive import Instruction
from engine.session_metrics import SessionMetrics
from engine.speech import Transcriber, VoiceDetector
from engine.standing import StandingInstructions
from engine.work import Held, Work
from streams.clock import Clock
from streams.items import AudioChunk, StreamItem, VideoFrame
from streams.source import Source


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


@dataclass(frozen=True, slots=True)
class _Waiting:
    """An accepted turn not answered yet."""

    query_id: str
    text: str
    t: float
    turn_end_wall: float
    reply: str | None  # the engine's own reply (the turn set or cancelled standing instructions); None: the model's


class Session:
    def __init__(
        self,
        context: BackendContext,
        *,
        clock: Clock,
        backend_name: str = "backend",
        options: SessionOptions | None = None,
        vad: VoiceDetector | None = None,
        transcriber: Transcriber | None = None,
        policy: QueryPolicy | None = None,
        session_id: str | None = None,
    ) -> None:
        self.context = context
        self.clock = clock
        self.backend_name = backend_name
        self.options = options or SessionOptions()
        self.session_id = session_id or uuid.uuid4().hex[:12]
        if self.options.turns.manual_turns and transcriber is None:
            raise ValueError("manual turns need speech input (a transcriber)")
        self.history: list[Turn] = []
        self._bus = EventBus()
        self._work = Work(("ingest", "vad", "asr", "answer"), self.session_id)
        self._response: _Response | None = None
        self._ids = itertools.count(1)
        self._turn_ids = itertools.count(1)
        self._stopping = asyncio.Event()
        self._ended = False
        self._waiting: list[_Waiting] = []  # accepted turns to be answered together by the next response
        # manual turns: uncommitted audio, and commits (a future each) and clears due
        self._standing = StandingInstructions(
            context=context,
            backend_name=backend_name,
            clock=clock,
            work=self._work,
            options=self.options.proactive,
            ids=self._ids,
            emit=self.emit,
            error=self._error,
            remember=self._remember,
        )
        # metrics
        self.metrics = SessionMetrics(self.options.metrics_interval_s, self.options.metrics_ttft_window)
        self._listening = Listening(
            context=context,
            clock=clock,
            work=self._work,
            options=lambda: self.options,
            vad=vad,
            transcriber=transcriber,
            policy=policy or AnswerEverything(),
            emit=self.emit,
            error=self._error,
            new_turn_id=self._new_turn_id,
            hooks=ListeningHooks(on_onset=self._on_onset, on_voiced=self._on_voiced, on_query=self._on_spoken_query),
        )
        self._manual = ManualTurns(
            options=lambda: self.options, listening=self._listening, error=self._error, new_turn_id=self._new_turn_id
        )
        self._ingest = Ingest(
            context=context,
            clock=clock,
            work=self._work,
            options=self.options.ingest,
            metrics=self.metrics,
            error=self._error,
            hear=self._hear,
        )

    # ------------------------------------------------------------------ the models listening uses
    @property
    def vad(self) -> VoiceDetector | None:
        return self._listening.vad

    @property
    def transcriber(self) -> Transcriber | None:
        return self._listening.transcriber

    @transcriber.setter
    def transcriber(self, transcriber: Transcriber | None) -> None:
        self._listening.transcriber = transcriber

    @property
    def policy(self) -> QueryPolicy:
        return self._listening.policy

    @property
    def echo(self) -> EchoGuard:
        return self._listening.echo

    # ------------------------------------------------------------------ events
    def subscribe(self, maxsize: int = 100_000) -> EventStream:
        """Receive every event from now on (bounded: a subscriber that falls ``maxsize`` behind is dropped)."""
        return self._bus.subscribe(maxsize)

    def emit(self, event: Event) -> None:
        self._bus.emit(event)

    def _error(self, source: str, message: str, fatal: bool = False) -> None:
        self.emit(Error(t=self.clock.now(), source=source, message=message, fatal=fatal))

    async def wait_idle(self) -> None:
        """Return once no ingest, transcription or response is pending."""
        await self._work.idle()

    # ------------------------------------------------------------------ running
    async def run(self, sources: Sequence[Source]) -> bool:
        """Stream every source to its end (or until ``stop``); returns False when no source could be opened."""
        self.emit(
            SessionStarted(
                t=self.clock.now(),
                session_id=self.session_id,
                backend=self.backend_name,
                sources=[s.name for s in sources],
            )
        )
        opened = await self._ingest.open(sources)
        if sources and not opened:
            await self._end("no source could be opened")
            return False
        workers = self._ingest.start_workers()
        await self._ingest.feed(opened, self._accept_item, self._stopping)
        reason = "stopped" if self._stopping.is_set() else "sources exhausted"
        await self._ingest.drain(workers)
        if not self._stopping.is_set():
            await self._listening.close()
            await self.wait_idle()
            self._work.run_timers(float("inf"))
            await self.wait_idle()
        await self._end(reason)
        return True

    async def stop(self) -> None:
        """End the session: stop the sources and cancel a response in flight."""
        if self._response is not None:
            self._cancel_response("cancelled", "session stopped")
        self._stopping.set()

    async def _end(self, reason: str) -> None:
        if self._ended:
            return
        self._ended = True
        if self._response is not None:
            self._cancel_response("cancelled", reason)
        await self._work.close()
        try:
            await asyncio.to_thread(self.context.close)
        except Exception as exc:  # reported; the session still ends
            self._error("backend", f"closing the backend context failed: {type(exc).__name__}: {exc}")
        self._emit_metrics()
        self.emit(SessionEnded(t=self.clock.now(), reason=reason))
        self._bus.close()

    def _accept_item(self, item: StreamItem) -> None:
        self._work.run_timers(self.clock.now())
        if isinstance(item, VideoFrame):
            self._ingest.queue_frame(item)
        elif isinstance(item, AudioChunk):
            self._manual.hear(item)
            self._ingest.queue_audio(item)
        else:
            self.submit_text(item.text, t=item.t, turn_id=item.turn_id, standing=item.standing)
        self._maybe_emit_metrics()

    async def _hear(self, batch: list[AudioChunk]) -> None:
        if not self.options.turns.manual_turns:  # with manual turns the client ends turns, not the VAD
            await self._listening.hear(batch)

    def _new_turn_id(self) -> str:
        return f"u{next(self._turn_ids)}"

    def _on_spoken_query(self, turn_id: str, text: str, ended_wall: float, decision: GateDecision | None) -> None:
        """Listening heard a turn said to the assistant: committed by the client (``decision`` None) or let through
        by the gate."""
        if decision is None:
            self._accept_query(turn_id, text, "speech", ended_wall, reason="committed by the client", respond=False)
            return
        turns = self.options.turns
        self._accept_query(
            turn_id,
            text,
            "speech",
            ended_wall,
            reason=decision.reason,
            score=decision.score,
            respond=turns.auto_response,
            interrupt=turns.barge_in,
        )

    def note_playback(self, t: float, samples: np.ndarray) -> None:
        """The assistant's own audio, played from stream time ``t``: its echo in the microphone is not the user."""
        self._listening.echo.add_playback(t, samples)

    # ------------------------------------------------------------------ options and manual turns
    def update_options(self, *, turns: TurnOptions | None = None, response: ResponseOptions | None = None) -> None:
        """Change turn taking and response options mid-session (a client's ``session.update``); the VAD, ASR and
        echo settings stay as constructed. Switching manual turns on or off drops an utterance in progress and any
        uncommitted audio."""
        if turns is not None:
            if turns.manual_turns and self.transcriber is None:
                raise ValueError("manual turns need speech input (a transcriber)")
            if turns.manual_turns != self.options.turns.manual_turns:
                self._listening.reset()
                self._manual.reset()
            self.options = dataclasses.replace(self.options, turns=turns)
        if response is not None:
            self.options = dataclasses.replace(self.options, response=response)

    def commit_audio(self, through: int | None = None) -> str:
        """Manual turns: the audio accepted since the last commit or clear becomes one user turn, transcribed and
        accepted without the gate, to be answered by ``create_response``. ``through`` is the number of audio chunks
        the session will have accepted at the commit (an interface sums what ``PushSource.push_audio`` released), so
        audio still on its way belongs to the turn; None: the audio accepted so far. A turn shorter than
        ``TurnOptions.min_commit_ms`` is refused with an ``error`` event. Returns the turn's
        id, which its ``transcript`` (or ``transcript.failed``) and ``query.accepted`` (or ``query.ignored``) carry."""
        return self._manual.commit(through)

    def clear_audio(self, through: int | None = None) -> None:
        """Manual turns: drop the audio not committed yet (``through`` as for ``commit_audio``)."""
        self._manual.clear(through)

    # ------------------------------------------------------------------ barge-in
    def _on_onset(self, t: float) -> None:
        """Speech began: pause a streaming response and decide later whether this was a real interruption."""
        response = self._response
        turns = self.options.turns
        if response is None or not turns.barge_in or response.paused_at is not None:
            return
        response.paused_at = t
        self.emit(ResponsePaused(t=self.clock.now(), response_id=response.response_id, reason="speech started"))

        def no_query() -> None:
            if self._response is response and response.paused_at == t:
                self._resume(response, f"false interruption: no query within {turns.false_interruption_timeout_s:g} s")

        self._work.at(t + turns.false_interruption_timeout_s, no_query)

    def _on_voiced(self, onset: float, until: float) -> None:
        """Voice activity since ``onset`` continued up to ``until``: speech long enough turns a pause into an
        interruption."""
        response = self._response
        limit = self.options.turns.interrupt_after_s
        if response is None or response.paused_at != onset or until - onset < limit:
            return
        self._cancel_response("interrupted", f"barge-in: speech longer than {limit:g} s")

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

    # ------------------------------------------------------------------ queries and responses
    def submit_text(
        self, text: str, *, t: float | None = None, turn_id: str | None = None, standing: bool = True
    ) -> str:
        """A text query typed to the assistant (always addressed to it), answered at once together with any turns
        waiting for an answer. Interrupts a response in flight. Returns the turn's id (``turn_id``, or a new one),
        which its ``query.accepted`` or ``query.ignored`` carries. ``standing`` False: the text is only answered,
        never taken as setting or cancelling a standing instruction (a question that merely sounds like one)."""
        turn_id = turn_id or self._new_turn_id()
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
            self._accept_query(turn_id, text.strip(), "text", time.monotonic(), standing=standing)
        return turn_id

    def _too_long(self, turn_id: str, text: str, t: float | None) -> bool:
        """Refuse a typed question over ``ResponseOptions.max_query_chars`` (an error and ``query.ignored``)."""
        limit = self.options.response.max_query_chars
        if len(text) <= limit:
            return False
        reason = f"text too long: {len(text)} characters, the limit is {limit}"
        self.emit(
            QueryIgnored(
                t=self.clock.now() if t is None else t, turn_id=turn_id, text=text[:200], source="text", reason=reason
            )
        )
        self._error("input", f"typed question refused: {reason}")
        return True

    def create_response(self, text: str = "", *, instructions: str | None = None) -> bool:
        """Answer now: typed ``text`` (may be empty) together with every accepted turn still waiting for an answer
        (``TurnOptions.auto_response`` off, or manual turns), as one response. Turns committed or ended but still
        being transcribed are waited for first. ``instructions`` replace the session's for this response. Returns
        False when there is nothing to answer."""
        turns = self.options.turns
        commits = self._manual.pending()
        chain = self._listening.asr_chain
        if chain is None or chain.done() or (turns.auto_response and not turns.manual_turns):
            chain = None  # with automatic answers a turn being transcribed is answered by itself
        text = text.strip()
        turn_id = self._new_turn_id() if text else ""
        if text and self._too_long(turn_id, text, None):
            text = ""
        if not (text or self._waiting or commits or chain):
            return False
        if text:
            self._accept_query(turn_id, text, "text", time.monotonic(), respond=False, interrupt=False)
        if not commits and chain is None:
            self._answer_waiting(instructions)
            return True
        # pending work, except while a commit waits for audio still to be released (fast replay waits for idle first)
        held = None if self._manual.waiting_for_audio else self._work.hold()
        self._work.spawn(self._answer_when_transcribed(commits, chain, instructions), "create-response", held)
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
            self._error("input", "a response was requested, but no turn was accepted to answer")

    def _accept_query(
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
        query_id = f"q{next(self._ids)}"
        now = self.clock.now()
        self.emit(
            QueryAccepted(
                t=now, turn_id=turn_id, query_id=query_id, text=text, source=source, reason=reason, score=score
            )
        )
        reply = self._standing.take(query_id, text) if standing else None
        self._waiting.append(_Waiting(query_id, text, now, turn_end_wall, reply))
        if respond:
            self._answer_waiting(None)
        elif interrupt and self._response is not None:
            self._cancel_response("interrupted", f"new turn {query_id}")

    def _answer_waiting(self, instructions: str | None) -> bool:
        """Start one response to every waiting turn (cutting the one in flight); False when none waits."""
        if not self._waiting:
            return False
        waiting, self._waiting = self._waiting, []
        last = waiting[-1]
        if self._response is not None:
            self._cancel_response("interrupted", f"new query {last.query_id}")
        query = "\n".join(turn.text for turn in waiting)
        response = _Response(
            response_id=f"r{next(self._ids)}",
            query_id=last.query_id,
            query=query,
            t=last.t,
            turn_end_wall=last.turn_end_wall,
            accepted_wall=time.monotonic(),
            token=CancelToken(),
            instructions=instructions,
        )
        self._response = response
        decoding = self._work.hold()
        replies = [turn.reply for turn in waiting if turn.reply is not None]
        reply = " ".join(replies) if replies else None
        response.task = self._work.spawn(self._respond(response, decoding, reply), response.response_id, decoding)
        return True

    def truncate_turn(self, response_id: str, heard: str) -> bool:
        """Keep only ``heard`` of a finished answer in the dialogue (the listener stopped hearing it there)."""
        for i in range(len(self.history) - 1, -1, -1):
            turn = self.history[i]
            if turn.role == "assistant" and turn.response_id == response_id:
                self.history[i] = dataclasses.replace(turn, text=heard, interrupted=True)
                return True
        return False

    def cancel_response(self, reason: str = "cancelled by client") -> bool:
        """Cancel the response in flight (``response.done`` with status ``cancelled``); False when none."""
        if self._response is None:
            return False
        self._cancel_response("cancelled", reason)
        return True

    def _cancel_response(self, status: str, reason: str) -> None:
        response = self._response
        if response is None:
            return
        self._response = None
        response.token.cancel(reason)
        if response.task is not None:
            response.task.cancel()
        self._close_response(response, status, reason)

    def _remember(self, turn: Turn) -> None:
        """Add a dialogue turn; the oldest go once ``ResponseOptions.max_history`` turns are kept."""
        self.history.append(turn)
        excess = len(self.history) - self.options.response.max_history
        if excess > 0:
            del self.history[:excess]

    def _close_response(self, response: _Response, status: str, reason: str = "") -> None:
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
            )
        )
        self._remember(Turn("user", response.query, response.t))
        self._remember(
            Turn(
                "assistant",
                response.delivered,
                self.clock.now(),
                interrupted=status != "completed",
                response_id=response.response_id,
            )
        )

    async def _respond(self, response: _Response, decoding: Held, reply: str | None = None) -> None:
        """Stream the backend's answer to the response's query, or ``reply`` when the engine answers itself."""
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[object] = asyncio.Queue()
        done = object()
        _, choices = split_choices(response.query)
        o = self.options.response
        request = AnswerRequest(
            query=response.query,
            t=response.t,
            history=tuple(self.history[len(self.history) - o.history_turns :] if o.history_turns > 0 else ()),
            context_seconds=o.context_seconds,
            max_new_tokens=o.max_new_tokens,
            choices=choices,
            instructions=o.instructions if response.instructions is None else response.instructions,
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

        self.emit(
            ResponseStarted(
                t=self.clock.now(), response_id=response.response_id, query_id=response.query_id, query=response.query
            )
        )
        # ``decoding``: this response is pending work while it decodes
        self._work.submit("answer", decode)
        while True:
            piece = await pieces.get()
            if piece is done:
                break
            if isinstance(piece, Exception):
                self._error("backend", f"answering failed: {type(piece).__name__}: {piece}")
                if self._response is response:
                    self._response = None
                    self._close_response(response, "failed", f"{type(piece).__name__}: {piece}")
                return
            text = str(piece)
            if not text:
                continue
            if response.paused_at is not None:
                response.held.append(text)
            else:
                self._deliver(response, text)
        if response.paused_at is not None:
            # decoded completely while paused: wait (not as pending work) for resume or interruption
            decoding.release()
            await response.unpaused.wait()
        if self._response is response:
            self._response = None
            self._close_response(response, "completed")

    # ------------------------------------------------------------------ standing instructions
    @property
    def instructions(self) -> dict[str, Instruction]:
        """The standing instructions watched for now, by id."""
        return self._standing.instructions

    def cancel_instruction(self, instruction_id: str, reason: str = "cancelled") -> bool:
        """Stop watching for a standing instruction (``instruction.removed``); False when there is none by that id."""
        return self._standing.cancel(instruction_id, reason)

    # ------------------------------------------------------------------ metrics
    def _maybe_emit_metrics(self) -> None:
        if self.metrics.due(self.clock.now()):
            self._emit_metrics()

    def _emit_metrics(self) -> None:
        values = self.metrics.values(
            self.clock.now(), frames_dropped=self._ingest.frames_dropped, audio_dropped=self._ingest.audio_dropped
        )
        self.emit(Metrics(t=self.clock.now(), values=values))
