"""Listening: the stream's audio becomes user turns. Voice detection (with the assistant's own echo taken out) feeds
the segmenter; a finished utterance is transcribed (early, at a pause that may end it; in utterance order) and the
query policy (the gate) decides whether it was said to the assistant. What it hears it emits as events
(``speech.*``, ``transcript`` / ``transcript.failed``, ``query.ignored``) and tells the session through hooks, as
livekit/agents' ``AudioRecognition`` does: speech began, voice went on, a turn was said to the assistant.

Semantic end of turn (``EndOfTurnOptions``): at each pause the words so far are transcribed and judged by the
turn-end model (SmolLM2); words that look finished end the turn after ``finished_silence_ms`` of silence, others
only after ``unfinished_silence_ms``. A finished-looking turn the gate would take is handed to the responder at once
to answer speculatively (``on_speculate``); if the speaker goes on, ``on_resumed`` drops that work. The judgement is
held as pending work, so a fast replay waits for it and ends each turn exactly where real time would with instant
ASR."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.backends.base import BackendContext
from engine.echo import EchoGuard
from engine.events import Event, QueryIgnored, SpeechStarted, SpeechStopped, Transcript, TranscriptFailed
from engine.gate import GateDecision, QueryPolicy, utterance_features
from engine.options import SessionOptions
from engine.segmenter import Onset, Pause, Resumed, SegmentEvent, SpeechSegmenter, Utterance
from engine.speech import Transcriber, TurnEndDetector, VoiceDetector, WordTranscriber
from engine.work import Work
from streams.clock import Clock
from streams.items import CHUNK_SAMPLES, SAMPLE_RATE, AudioChunk


@dataclass(frozen=True, slots=True)
class ListeningHooks:
    on_onset: Callable[[float], None]  # speech began at this stream time
    on_voiced: Callable[[float, float], None]  # speech that began at the first time went on up to the second
    # a turn (id, text, wall time its speech ended) said to the assistant: the gate's decision, None when committed
    on_query: Callable[[str, str, float, GateDecision | None], None]
    on_speculate: Callable[[str], None] = lambda text: None  # words that look like a finished turn said to it
    on_resumed: Callable[[], None] = lambda: None  # the speaker went on: what was speculated on is stale


class Listening:
    def __init__(
        self,
        *,
        context: BackendContext,
        clock: Clock,
        work: Work,
        options: Callable[[], SessionOptions],
        vad: VoiceDetector | None,
        transcriber: Transcriber | None,
        policy: QueryPolicy,
        emit: Callable[[Event], None],
        error: Callable[[str, str], None],
        new_turn_id: Callable[[], str],
        hooks: ListeningHooks,
        turn_end: TurnEndDetector | None = None,
    ) -> None:
        """``turn_end``: judges whether words look finished (semantic end of turn); None: silence alone ends turns."""
        self.context = context
        self.clock = clock
        self.work = work
        self.options = options
        self.vad = vad
        self.transcriber = transcriber
        self.policy = policy
        self.emit = emit
        self.error = error
        self.new_turn_id = new_turn_id
        self.hooks = hooks
        self.turn_end = turn_end
        turns = options().turns
        self.echo = EchoGuard(
            threshold=turns.echo_threshold,
            max_delay_s=turns.echo_max_delay_s,
            keep_s=turns.echo_keep_s,
            span_s=turns.echo_span_s,
        )
        self._segmenter = self._new_segmenter()
        self._vad_failing = False
        self._speech_turn: str | None = None  # the turn id of the utterance the VAD is in
        self.speaking_since: float | None = None  # its onset
        self._early: tuple[float, float, asyncio.Future[str]] | None = None  # (start, end, transcript) at a pause
        self._judged: tuple[float, float, str, GateDecision] | None = None  # the gate's decision on a pause's words
        self._speculated: tuple[float, float] | None = None  # the pause whose words the responder is answering
        self.asr_chain: asyncio.Task[None] | None = None  # the latest transcription: each waits for the one before

    def _semantic(self) -> bool:
        return (
            self.turn_end is not None and self.transcriber is not None and self.options().end_of_turn.mode == "semantic"
        )

    def _new_segmenter(self) -> SpeechSegmenter:
        o = self.options()
        return SpeechSegmenter(o.vad, o.end_of_turn.unfinished_silence_ms if self._semantic() else None)

    def reset(self) -> None:
        """Drop the utterance in progress (turn taking changed hands)."""
        self._segmenter = self._new_segmenter()
        self.speaking_since = None
        self._early = None
        self._speech_turn = None
        self._drop_speculation()

    async def hear(self, batch: list[AudioChunk]) -> None:
        """Voice detection and segmentation of a batch of the stream's audio, and what follows from it."""
        if self.vad is None:
            return
        try:
            events, voiced_until = await self.work.thread("vad", self._segment, batch)  # type: ignore[misc]
        except Exception as exc:
            if not self._vad_failing:  # reported once per failing stretch, not for every chunk
                self._vad_failing = True
                self.error(
                    "vad",
                    f"voice detection failed on the audio at {batch[0].t:.2f}-{batch[-1].end:.2f} s: "
                    f"{type(exc).__name__}: {exc}; speech is not heard until it recovers",
                )
            return
        self._vad_failing = False
        if self.options().turns.manual_turns:
            return  # the client took over turn taking meanwhile
        for ev in events:
            if isinstance(ev, Onset):
                self._speech_turn = self.new_turn_id()
                self.speaking_since = ev.t
                self.emit(SpeechStarted(t=ev.t, turn_id=self._speech_turn))
                self.hooks.on_onset(ev.t)
            elif isinstance(ev, Pause):
                self._transcribe_early(ev)
            elif isinstance(ev, Resumed):
                self._drop_speculation()
            else:
                self._on_utterance(ev)
        if voiced_until is not None and self.speaking_since is not None:
            self.hooks.on_voiced(self.speaking_since, voiced_until)

    def _segment(self, batch: list[AudioChunk]) -> tuple[list[SegmentEvent], float | None]:
        """VAD + segmentation of a batch; also returns the end of the last voiced window while in speech."""
        assert self.vad is not None
        out: list[SegmentEvent] = []
        voiced_until = None
        for chunk in batch:
            samples = chunk.samples
            for i in range(0, len(samples) - CHUNK_SAMPLES + 1, CHUNK_SAMPLES):
                window = samples[i : i + CHUNK_SAMPLES]
                start = chunk.t + i / SAMPLE_RATE
                prob = self.vad.probability(window)
                if self.echo.is_echo(start, window):  # called for every window: it keeps the mic history
                    prob = 0.0
                out.extend(self._segmenter.push(start, window, prob))
                if self._segmenter.in_speech and prob >= self.options().vad.neg_threshold:
                    voiced_until = start + CHUNK_SAMPLES / SAMPLE_RATE
        return out, voiced_until

    async def close(self) -> None:
        """End of stream: the utterance in progress is finished and every transcription waited for."""
        for ev in self._segmenter.flush():
            if isinstance(ev, Utterance):
                self._on_utterance(ev)
        if self.asr_chain is not None:
            await asyncio.shield(self.asr_chain)

    def _transcribe_early(self, pause: Pause) -> None:
        """Start transcribing at a pause in speech; the utterance, if it ends there, uses the result. With a semantic
        end of turn the words are judged as soon as they are in (held as pending work)."""
        if self.transcriber is None:
            return
        semantic = self._semantic()
        if semantic and self.options().end_of_turn.check_last_word and isinstance(self.transcriber, WordTranscriber):
            words = self.work.thread("asr", self.transcriber.transcribe_words, pause.samples)
            future: asyncio.Future[str] = asyncio.ensure_future(_text_of(words))
        else:
            future = self.work.thread("asr", self.transcriber.transcribe, pause.samples)
            words = None
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # a discarded guess may fail unseen
        self._early = (pause.start, pause.end, future)
        if semantic:
            self.work.spawn(self._judge(pause, future, words), "turn-end", self.work.hold())

    async def _judge(
        self,
        pause: Pause,
        transcript: asyncio.Future[str],
        words: asyncio.Future[tuple[str, float | None]] | None,
    ) -> None:
        """Set the silence that ends this pause's utterance from whether its words look finished (and the
        recogniser was sure of the last one); speculate on words that look finished and that the gate takes."""
        try:
            text = str(await asyncio.shield(transcript)).strip()
            sure = (await asyncio.shield(words))[1] if words is not None else None
        except Exception:
            return  # the utterance, if it ends here, transcribes again and reports the failure
        eot = self.options().end_of_turn
        try:
            finished = await self.work.thread("asr", self._finished, text, sure)  # a model pass: off the loop
        except Exception as exc:
            self.error("turn-end", f"judging whether '{text}' is finished failed: {type(exc).__name__}: {exc}")
            return  # the turn ends after the longer silence
        wait = eot.finished_silence_ms if finished else eot.unfinished_silence_ms
        if not self._segmenter.settle(pause.end, wait) or not finished or not eot.speculate:
            return
        utt = Utterance(start=pause.start, end=pause.end, samples=pause.samples)
        try:
            decision = await self.work.thread("asr", self._decide, text, utt)
        except Exception:
            return  # decided again, and reported, when the utterance ends
        if self._early is None or self._early[:2] != (pause.start, pause.end):
            return  # the speaker went on meanwhile
        self._judged = (pause.start, pause.end, text, decision)
        if decision.accepted:
            self._speculated = (pause.start, pause.end)
            self.hooks.on_speculate(text)

    def _finished(self, text: str, sure: float | None) -> bool:
        """Whether ``text`` looks like a finished turn (blocking: the turn-end model runs)."""
        eot = self.options().end_of_turn
        assert self.turn_end is not None
        texts = [text]
        if sure is not None and sure < eot.sure_last_word:
            # the last word may be Whisper's invention: the words before it must look finished too (read together)
            texts.append(text.rsplit(maxsplit=1)[0] if " " in text else "")
        return all(odds >= eot.threshold for odds in self.turn_end.finished_each(texts))

    def _drop_speculation(self) -> None:
        self._judged = None
        if self._speculated is not None:
            self._speculated = None
            self.hooks.on_resumed()

    async def _transcript_of(self, utt: Utterance) -> str:
        early, self._early = self._early, None
        if early is not None and early[:2] == (utt.start, utt.end):
            try:
                return str(await early[2])
            except Exception:
                pass  # transcribe again below, and report a failure there
        return str(await self.work.thread("asr", self.transcriber.transcribe, utt.samples))  # type: ignore[union-attr]

    def _on_utterance(self, utt: Utterance) -> None:
        if self._speculated is not None and self._speculated != (utt.start, utt.end):
            self._drop_speculation()
        self._speculated = None
        self.speaking_since = None
        turn_id, self._speech_turn = self._speech_turn or self.new_turn_id(), None
        self.emit(SpeechStopped(t=utt.end, turn_id=turn_id, start=utt.start, duration=round(utt.duration, 3)))
        if utt.too_short or self.transcriber is None:
            return
        transcription = self._transcribe(utt, turn_id, self.asr_chain, time.monotonic())
        self.asr_chain = self.work.spawn(transcription, "asr", self.work.hold())

    async def _transcribe(
        self,
        utt: Utterance,
        turn_id: str,
        previous: asyncio.Task[None] | None,
        ended_wall: float,
        committed: asyncio.Future[None] | None = None,
    ) -> None:
        """Transcribe a finished utterance and gate it; a ``committed`` (manual) turn is addressed to the assistant."""
        try:
            if previous is not None:
                await asyncio.shield(previous)  # transcripts come out in utterance order
            started = time.perf_counter()
            try:
                text = await self._transcript_of(utt)
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
                self.emit(
                    TranscriptFailed(t=self.clock.now(), turn_id=turn_id, start=utt.start, end=utt.end, reason=reason)
                )
                self.error("asr", f"transcribing the utterance at {utt.start:.2f}-{utt.end:.2f} s failed: {reason}")
                return
            text = str(text).strip()
            asr_ms = (time.perf_counter() - started) * 1000
            self.emit(
                Transcript(
                    t=self.clock.now(),
                    turn_id=turn_id,
                    text=text,
                    start=utt.start,
                    end=utt.end,
                    asr_ms=round(asr_ms, 1),
                )
            )
            if text:
                try:
                    await self.work.thread("ingest", self.context.ingest_transcript, utt.start, utt.end, text)
                except Exception as exc:  # the query itself still goes on
                    self.error(
                        "backend",
                        f"storing the transcript of {utt.start:.2f}-{utt.end:.2f} s failed: "
                        f"{type(exc).__name__}: {exc}",
                    )
            if committed is not None:
                if text:
                    self.hooks.on_query(turn_id, text, ended_wall, None)
                else:
                    self.emit(
                        QueryIgnored(
                            t=self.clock.now(),
                            turn_id=turn_id,
                            text="",
                            source="speech",
                            reason="no speech in the committed audio",
                        )
                    )
                return
            judged, self._judged = self._judged, None
            try:
                if judged is not None and judged[:3] == (utt.start, utt.end, text):
                    decision = judged[3]  # decided on the same words at the pause
                else:
                    decision = await self.work.thread("asr", self._decide, text, utt)
            except Exception as exc:
                self.error("gate", f"deciding whether '{text}' is a query failed: {type(exc).__name__}: {exc}")
                self.emit(
                    QueryIgnored(t=self.clock.now(), turn_id=turn_id, text=text, source="speech", reason="gate failed")
                )
                return
            if decision.accepted:
                self.hooks.on_query(turn_id, text, ended_wall, decision)
            else:
                self.emit(
                    QueryIgnored(
                        t=self.clock.now(),
                        turn_id=turn_id,
                        text=text,
                        source="speech",
                        reason=decision.reason,
                        score=decision.score,
                    )
                )
        finally:
            if committed is not None and not committed.done():
                committed.set_result(None)

    def transcribe_committed(self, utt: Utterance, turn_id: str, committed: asyncio.Future[None]) -> None:
        """A manual turn's audio: transcribed in order with the rest, addressed to the assistant (no gate)."""
        transcription = self._transcribe(utt, turn_id, self.asr_chain, time.monotonic(), committed)
        self.asr_chain = self.work.spawn(transcription, "asr", self.work.hold())

    def _decide(self, text: str, utt: Utterance) -> GateDecision:
        """Gate decision with the utterance's acoustic features (blocking: the learned gate runs a model)."""
        features = utterance_features(
            utt.samples, start=utt.start, end=utt.end, playback=self.echo.playback_intervals()
        )
        return self.policy.decide(text, start=utt.start, end=utt.end, features=features)


async def _text_of(words: asyncio.Future[tuple[str, float | None]]) -> str:
    return (await words)[0]
