"""``CascadeBackend``: the shared OCR engine and language model; ``CascadeContext``: one stream's perception and log."""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path

from engine.backends.base import AnswerRequest, AssetStatus, Capabilities, ConditionCheck
from engine.backends.cascade import prompt
from engine.backends.cascade.answers import evidence_answer, timeline
from engine.backends.cascade.conditions import check as check_condition
from engine.backends.cascade.facts import Facts
from engine.backends.cascade.grounding import Grounds, sentences, support, ungrounded
from engine.backends.cascade.intents import read_intent
from engine.backends.cascade.llm import shared_lm, smollm2_cached, smollm2_gguf
from engine.backends.cascade.mcq import best, score_options
from engine.backends.cascade.objects import SeenObject
from engine.backends.cascade.ocr import TextReader, ocr_model_paths
from engine.backends.cascade.options import CascadeOptions
from engine.backends.cascade.perception import Observation, Perceiver, steady_faint
from engine.backends.cascade.report import PerceptionReport, notice_id
from engine.backends.cascade.scene_log import SceneLog
from engine.backends.cascade.vision_models import VisionModels, load_vision_models
from engine.cancel import CancelToken
from engine.choices import split_choices
from engine.events import Event
from engine.model_files import ModelFilesError
from engine.vision.models import MODELS, describe_vision_assets
from streams.items import AudioChunk, VideoFrame

log = logging.getLogger(__name__)


class CascadeBackend:
    """OCR, object, label and people recognition, colours, motion and transcripts, answered from the scene log with
    SmolLM2-135M (or ``model``, a local HF chat LM) for phrasing and conversation.

    ``device``: "auto" or "cpu" run everything on the CPU; "cuda" moves the language model to the GPU (perception
    stays on the CPU) and fails at ``load`` when torch sees no GPU.
    """

    name = "cascade"
    capabilities = Capabilities(checks_conditions=True, reports_perception=True, options=CascadeOptions)

    def __init__(self, model: str | None = None, device: str = "auto") -> None:
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"cascade: device must be 'auto', 'cpu' or 'cuda', got {device!r}")
        self.model = model
        self.device = "cuda" if device == "cuda" else "cpu"
        self.lm = shared_lm(model, self.device)
        self.options = CascadeOptions()
        self.reader: TextReader | None = None
        self.vision: VisionModels | None = None  # shared by every context (onnxruntime sessions are thread-safe)
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            self.lm.load()
            self.lm.warm(prompt.open_question("", 0.0, [], []))
            if self.reader is None:
                self.reader = TextReader(threads=max(1, (os.cpu_count() or 2) // 2))
            if self.vision is None:
                self.vision = load_vision_models()

    def open_context(self, options: CascadeOptions | None = None) -> CascadeContext:
        """A new session's stream; ``options`` replace the backend's for it."""
        if options is not None and not isinstance(options, CascadeOptions):
            raise ValueError(f"cascade: context options must be CascadeOptions, got {type(options).__name__}")
        if self.reader is None or self.lm.model is None:
            raise RuntimeError("cascade: load() the backend before opening a context")
        return CascadeContext(self, options or self.options)

    def check_assets(self) -> AssetStatus:
        problems: list[str] = []
        parts: list[str] = []
        try:
            missing = [p.name for p in ocr_model_paths()[:2] if not p.is_file()]
            if missing:
                problems.append(f"OCR models missing from rapidocr-onnxruntime: {', '.join(missing)}")
            else:
                parts.append("OCR: PP-OCRv4 det+rec")
        except ModelFilesError as exc:
            problems.append(str(exc))
        if self.model is not None:
            if (Path(self.model) / "config.json").is_file():
                parts.append(f"LM: {self.model}")
            else:
                problems.append(f"LM folder {self.model!r} has no config.json")
        else:
            try:
                gguf = smollm2_gguf()
                state = "dequantised copy cached" if smollm2_cached(gguf) else "dequantised on first load (~20-60 s)"
                parts.append(f"LM: {gguf.name} ({state})")
            except ModelFilesError as exc:
                problems.append(str(exc))
        vision = [status for status in describe_vision_assets() if status.ready]
        parts.append(f"vision: {len(vision)} of {len(MODELS)} models ready (`omnistream models` lists them)")
        if problems:
            return AssetStatus(self.name, False, "; ".join(problems))
        return AssetStatus(self.name, True, "; ".join(parts))


class CascadeContext:
    """One stream: frames go through perception into the scene log; questions are answered from the log."""

    def __init__(self, backend: CascadeBackend, options: CascadeOptions) -> None:
        assert backend.reader is not None
        self.backend = backend
        self.options = options
        self.capabilities = backend.capabilities
        self.perceiver = Perceiver(backend.reader, options.perception, backend.vision)
        self.log = SceneLog(options.log_entries, options.motion_gap_s, options.leave_after_s)
        self.report = PerceptionReport(self.log)
        self.last_observation: Observation | None = None
        self._runs: deque[tuple[SeenObject, ...]] = deque(maxlen=options.perception.watch_runs)  # detector runs
        self._faint: tuple[SeenObject, ...] = ()  # the latest run's detections too faint to log
        self.visible_texts: list[str] = []  # text read in the latest frame that was read
        self._speech: list[str] = []  # transcripts not yet seen by each condition check
        self._speech_seen: dict[str, int] = {}
        self.closed = False

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("cascade: this context is closed")

    def ingest_frame(self, frame: VideoFrame) -> None:
        self._check_open()
        observation = self.perceiver.observe(frame)
        self.log.add_observation(observation)
        self.last_observation = observation
        if observation.scene_change:
            self._runs.clear()
        if observation.objects is not None:
            self._runs.append(observation.objects + observation.faint)
            self._faint = observation.faint
        if observation.texts is not None:
            self.visible_texts = [line.text for line in observation.texts]

    def perceived(self) -> list[Event]:
        return self.report.after(self.last_observation) if self.last_observation is not None else []

    def ingest_audio(self, chunk: AudioChunk) -> None:
        """Nothing to do: cascade hears the stream only through the session's transcripts."""
        self._check_open()

    def ingest_transcript(self, start: float, end: float, text: str) -> None:
        self._check_open()
        self.log.add_speech(start, end, text)
        self._speech.append(text)

    def answer(self, request: AnswerRequest, cancel: CancelToken) -> Iterator[str]:
        """The answer (``_answer``) sentence by sentence, each preceded by a report (``request.on_evidence``) of the
        noticed entries the answer so far rests on, when that grew."""
        pieces = self._answer(request, cancel)
        if request.on_evidence is None:  # nobody asks what it rests on
            yield from pieces
            return
        noticed = [e for e in self.log.window(request.t, request.context_seconds) if notice_id(e) is not None]
        cited: list[str] = []
        try:
            for piece in pieces:
                new = [i for i in map(notice_id, support(piece, noticed)) if i is not None and i not in cited]
                if new:
                    cited += new
                    request.on_evidence(tuple(cited))
                yield piece
        finally:
            pieces.close()  # a cancelled answer stops decoding at once

    def _answer(self, request: AnswerRequest, cancel: CancelToken) -> Generator[str, None, None]:
        """Multiple choice: every option scored on the facts (and the LM); an open question about the stream: the
        sentences the evidence makes (``answers``), then, for a long or unusual request, the LM going on from them;
        a request not about the stream: the LM. Whatever the LM says passes the grounding check sentence by
        sentence; the first claim the evidence does not hold ends the answer."""
        self._check_open()
        if request.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {request.max_new_tokens}")
        options = tuple(request.choices)
        stem = split_choices(request.query)[0] if options else request.query
        window = self.log.window(request.t, request.context_seconds)
        facts = Facts(window, request.t, self.options.present_s)
        if options:
            yield from self._choose(stem, options, facts, request, cancel)
            return
        intent = read_intent(request.query)
        grounds = Grounds.of(window)
        lm, limit = self.backend.lm, request.max_new_tokens
        if intent.kind == "chat":
            messages = prompt.chat(request.query, request.history, instructions=request.instructions)
            stop = () if intent.long else prompt.STOP
            reply = lm.stream(messages, max_new_tokens=limit, cancel=cancel, stop=stop)
            # conversation that claims to perceive speaks of now ("Hello, I see a cat" once the cat has gone is false)
            now = Grounds.of([e for e in window if e.end >= request.t - self.options.present_s])
            said = yield from self._checked(reply, now, cancel, about_stream=False)
            if not said and request.history and not cancel.cancelled:
                # the small LM tends to repeat what the dialogue said about the stream before: once more without it
                messages = prompt.chat(request.query, (), instructions=request.instructions)
                reply = lm.stream(messages, max_new_tokens=limit, cancel=cancel, stop=stop)
                said = yield from self._checked(reply, now, cancel, about_stream=False)
            if not said and not cancel.cancelled:
                yield "Sorry, I don't know what to say to that."
            return
        if not window:
            yield prompt.NOTHING_OBSERVED
            return
        # things the detector was unsure of are not named (multiple choice weighs them; an answer would assert them)
        sure = [
            e for e in window if not isinstance(e.facts, SeenObject) or e.facts.score >= self.options.answer_min_score
        ]
        said = evidence_answer(request.query, intent, Facts(sure, request.t, self.options.present_s))
        if intent.long:
            said += timeline(window)
        for i, sentence in enumerate(said):
            if cancel.cancelled:
                return
            yield sentence if i == 0 else f" {sentence}"
        # the LM goes on for a long or unusual request, and where the client's instructions ask for a manner of answer
        if not (intent.long or intent.kind == "notes" or request.instructions.strip()) or cancel.cancelled:
            return
        evidence = self.log.retrieve(request.query, request.t, request.context_seconds, self.options.evidence_limit)
        messages = prompt.open_question(
            request.query, request.t, evidence, request.history, instructions=request.instructions
        )
        stop = () if intent.long else prompt.STOP
        more = lm.stream(messages, max_new_tokens=limit, cancel=cancel, stop=stop, prefix=" ".join(said))
        yield from self._checked(more, grounds, cancel, about_stream=True, said=said)

    def _choose(
        self, stem: str, options: tuple[str, ...], facts: Facts, request: AnswerRequest, cancel: CancelToken
    ) -> Iterator[str]:
        # The options' words help find the entries that decide between them.
        wanted = " ".join((stem, *options))
        evidence = self.log.retrieve(wanted, request.t, request.context_seconds, self.options.evidence_limit)
        if cancel.cancelled:
            return
        scores = score_options(self.backend.lm, stem, options, facts, evidence, cancel)
        if not scores or cancel.cancelled:
            return
        choice = best(scores)
        note = "" if any(s.evidence > 0 for s in scores) else " (a guess: nothing I observed matches any option)"
        yield f"{choice.letter}. {choice.text}{note}"

    @staticmethod
    def _checked(
        pieces: Iterator[str], grounds: Grounds, cancel: CancelToken, *, about_stream: bool, said: Sequence[str] = ()
    ) -> Generator[str, None, list[str]]:
        """The LM's ``pieces`` as sentences that pass the grounding check (each after the ones in ``said``); the
        first ungrounded or repeated sentence, or a cancel, ends them (and the decoding). Returns what was yielded."""
        spoken = [" ".join(s.lower().split()) for s in said]
        out: list[str] = []
        try:
            for sentence in sentences(pieces):
                if cancel.cancelled:
                    return out
                problems = ungrounded(sentence, grounds, about_stream=about_stream)
                key = " ".join(sentence.lower().split())
                if problems or key in spoken:
                    if problems:
                        log.info("cascade: dropped an ungrounded sentence %r (%s)", sentence, "; ".join(problems))
                    return out
                spoken.append(key)
                out.append(sentence)
                yield sentence if not (said or len(out) > 1) else f" {sentence}"
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()  # stops decoding at once
        return out

    def check_condition(self, condition: str, t: float) -> ConditionCheck | None:
        """Whether a standing instruction's condition holds now (see ``conditions``); None if the cascade can't tell."""
        self._check_open()
        seen = self._speech_seen.get(condition, 0)
        self._speech_seen[condition] = len(self._speech)
        obs = self.last_observation
        objects, people = self.log.in_view(steady_s=self.options.perception.detect_interval_s)
        runs = tuple(self._runs)
        if len(runs) == self._runs.maxlen:
            # a thing waited for counts before the detector is sure of it when every recent run found it there
            objects += steady_faint(self._faint, runs, objects)
        return check_condition(
            condition,
            visible_texts=self.visible_texts,
            colours=obs.colours if obs is not None else (),
            moving=bool(obs is not None and obs.motion_where),
            new_speech=self._speech[seen:],
            objects=objects if self.perceiver.models.detector is not None else None,
            people=people,
        )

    def close(self) -> None:
        self.closed = True
