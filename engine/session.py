"""The session: the engine's public API and the wiring of its rooms, each a file of its own.

``Session`` runs and stops, takes input (sources, ``submit_text``, manual turns, ``create_response``, cancel,
truncate, playback, options) and hands the work to: ``Ingest`` (sources merged or fed live, queues, lag, the
backend's ingest), ``Listening`` (VAD, echo, segmenter, transcription, gate; it calls back through
``ListeningHooks``), ``Responder`` (turn acceptance, waiting turns, the response in flight, pause / resume / false
interruption, the dialogue ``History``), ``StandingInstructions``, ``ManualTurns``, ``EventBus`` (subscribers) and
``Work`` (worker threads: ``ingest``, ``vad``, ``asr``, ``answer``; tasks, pending work, stream-time timers).

Pacing. File sources and scheduled text are merged by timestamp and released by the clock: in realtime as the media
time comes due, in fast replay as soon as the engine is idle (no pending work in ``Work``), so a fast replay emits the
same events at the same stream times as a realtime one that keeps up. Live sources feed independently, stamped by
the clock as they capture.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import uuid
from collections.abc import Sequence

import numpy as np

from engine.backends.base import BackendContext, Turn
from engine.echo import EchoGuard
from engine.event_bus import EventBus, EventStream
from engine.events import Error, Event, Metrics, SessionEnded, SessionStarted
from engine.gate import AnswerEverything, QueryPolicy
from engine.ingest import Ingest
from engine.listening import Listening, ListeningHooks
from engine.manual_turns import ManualTurns
from engine.options import ResponseOptions, SessionOptions, TurnOptions
from engine.proactive import Instruction
from engine.responding import History, Responder
from engine.session_metrics import SessionMetrics
from engine.speech import Transcriber, TurnEndDetector, VoiceDetector
from engine.standing import StandingInstructions
from engine.work import Work
from streams.clock import Clock
from streams.items import AudioChunk, StreamItem, VideoFrame
from streams.source import Source


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
        turn_end: TurnEndDetector | None = None,
        session_id: str | None = None,
    ) -> None:
        self.context = context
        self.clock = clock
        self.backend_name = backend_name
        self.options = options or SessionOptions()
        self.session_id = session_id or uuid.uuid4().hex[:12]
        if self.options.turns.manual_turns and transcriber is None:
            raise ValueError("manual turns need speech input (a transcriber)")
        self._bus = EventBus()
        self._work = Work(("ingest", "vad", "asr", "answer"), self.session_id)
        ids = itertools.count(1)  # queries, responses and instructions share one sequence
        self._turn_ids = itertools.count(1)
        self._stopping = asyncio.Event()
        self._ended = False
        self.metrics = SessionMetrics(self.options.metrics_interval_s, self.options.metrics_ttft_window)
        self._history = History(lambda: self.options.response.max_history)
        self._standing = StandingInstructions(
            context=context,
            backend_name=backend_name,
            clock=clock,
            work=self._work,
            options=self.options.proactive,
            ids=ids,
            emit=self.emit,
            error=self._error,
            remember=self._history.add,
        )
        self._responder = Responder(
            context=context,
            clock=clock,
            work=self._work,
            options=lambda: self.options,
            metrics=self.metrics,
            history=self._history,
            ids=ids,
            new_turn_id=self._new_turn_id,
            take_standing=self._standing.take,
            emit=self.emit,
            error=self._error,
        )
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
            hooks=ListeningHooks(
                on_onset=self._responder.on_onset,
                on_voiced=self._responder.on_voiced,
                on_query=self._responder.on_spoken_query,
                on_speculate=self._responder.speculate,
                on_resumed=self._responder.drop_speculation,
            ),
            turn_end=turn_end,
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
            emit=self.emit,
        )

    @property
    def history(self) -> list[Turn]:
        """The dialogue so far, oldest first (both sides of each finished response, and fired instructions)."""
        return self._history.turns

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
    def subscribe(self, maxsize: int | None = None) -> EventStream:
        """Receive every event from now on (bounded: a subscriber that falls ``maxsize`` behind is dropped; None:
        ``SessionOptions.subscriber_queue_events``)."""
        return self._bus.subscribe(maxsize or self.options.subscriber_queue_events)

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
        self._responder.cancel("cancelled", "session stopped")
        self._stopping.set()

    async def _end(self, reason: str) -> None:
        if self._ended:
            return
        self._ended = True
        self._responder.cancel("cancelled", reason)
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

    # ------------------------------------------------------------------ queries and responses
    def submit_text(
        self, text: str, *, t: float | None = None, turn_id: str | None = None, standing: bool = True
    ) -> str:
        """A text query typed to the assistant (always addressed to it), answered at once together with any turns
        waiting for an answer. Interrupts a response in flight. Returns the turn's id (``turn_id``, or a new one),
        which its ``query.accepted`` or ``query.ignored`` carries. ``standing`` False: the text is only answered,
        never taken as setting or cancelling a standing instruction (a question that merely sounds like one)."""
        return self._responder.submit_text(text, t=t, turn_id=turn_id, standing=standing)

    def create_response(self, text: str = "", *, instructions: str | None = None) -> bool:
        """Answer now: typed ``text`` (may be empty) together with every accepted turn still waiting for an answer
        (``TurnOptions.auto_response`` off, or manual turns), as one response. Turns committed or ended but still
        being transcribed are waited for first. ``instructions`` replace the session's for this response. Returns
        False when there is nothing to answer."""
        return self._responder.create_response(
            text,
            instructions,
            commits=self._manual.pending(),
            asr_chain=self._listening.asr_chain,
            waiting_for_audio=self._manual.waiting_for_audio,
        )

    def truncate_turn(self, response_id: str, heard: str) -> bool:
        """Keep only ``heard`` of a finished answer in the dialogue (the listener stopped hearing it there)."""
        return self._history.truncate(response_id, heard)

    def cancel_response(self, reason: str = "cancelled by client") -> bool:
        """Cancel the response in flight (``response.done`` with status ``cancelled``); False when none."""
        return self._responder.cancel("cancelled", reason)

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
