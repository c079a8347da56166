"""One session's stream state on a shared loaded model: chunked ingest, bounded memory, forked answering."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from engine.backends.base import AnswerRequest, Capabilities, Turn
from engine.backends.omni.adapters import MIN_AUDIO_SAMPLES, MediaAdapter, SegmentInputs
from engine.backends.omni.errors import WindowShrunk
from engine.backends.omni.eviction import FrameDeduper, SinkWindow, TextPriorCompressor
from engine.backends.omni.kv_stream import KvStream, SegmentKind
from engine.backends.omni.options import OmniOptions
from engine.cancel import CancelToken
from streams.items import SAMPLE_RATE, AudioChunk, VideoFrame

if TYPE_CHECKING:
    from engine.backends.omni.backend import TransformersBackend


JUDGE_QUESTION = (
    'Someone near you just said: "{text}". Were they talking to you, the assistant, with a question or a request '
    "for you, rather than to someone else or as background talk? Answer yes or no."
)


class StreamContext:
    """Implements ``BackendContext``. Ingest and answering are serialised by one lock: an answer holds it from the
    question's prefill until the fork is cropped back, and chunks arriving meanwhile wait for it."""

    def __init__(self, backend: TransformersBackend, options: OmniOptions) -> None:
        self.backend = backend
        self.options = options
        self.capabilities: Capabilities = backend.capabilities
        self.adapter: MediaAdapter = backend.adapter
        self.window = SinkWindow(options.window_seconds, options.max_kv_tokens)
        self.compressor = (
            TextPriorCompressor(options.compress_after_seconds, options.compress_keep_ratio)
            if options.compress_after_seconds is not None
            else None
        )
        self.deduper = FrameDeduper(options.dedupe_threshold, refresh_seconds=options.window_seconds / 2)
        self.kv: KvStream | None = KvStream(
            backend.model,
            backend.inv_freq,
            backend.model.config.get_text_config(),
            position_rows=self.adapter.position_rows,
        )
        self._lock = threading.Lock()
        self._frames: list[np.ndarray] = []
        self._audio: list[np.ndarray] = []
        self._transcripts: list[str] = []
        self._chunk_start: float | None = None
        self._now = 0.0
        self._seen_turns: set[tuple[str, float, str]] = set()
        self._generator = torch.Generator(device="cpu").manual_seed(options.seed)
        self.chunks_prefilled = 0
        self._report: WindowShrunk | None = None
        prompt = self.adapter.text(self.adapter.chat.prompt(options.system_prompt))
        self._append("prompt", 0.0, 0.0, prompt)

    # ------------------------------------------------------------------ state
    def _stream(self) -> KvStream:
        if self.kv is None:
            raise RuntimeError("backend context is closed")
        return self.kv

    @property
    def kv_tokens(self) -> int:
        return self._stream().length

    def _append(
        self, kind: SegmentKind, t0: float, t1: float, seg: SegmentInputs, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self._stream().append(
            kind, t0, t1, seg.input_ids, seg.positions, seg.inputs, vision=seg.vision, attention_mask=mask
        )

    # ------------------------------------------------------------------ ingest
    def ingest_frame(self, frame: VideoFrame) -> None:
        with self._lock:
            self._advance(frame.t)
            if self.deduper.keep(frame.image, frame.t):
                self._frames.append(frame.image)
            self._raise_report()

    def ingest_audio(self, chunk: AudioChunk) -> None:
        if not self.capabilities.hears_audio:
            return  # image-text models hear the stream through transcripts
        with self._lock:
            self._advance(chunk.t)
            self._take_audio(chunk.t, chunk.samples.astype(np.float32, copy=False))
            self._raise_report()

    def _take_audio(self, t: float, samples: np.ndarray) -> None:
        """Add audio to the pending chunk; audio that completes the chunk flushes it at once (so a question
        arriving next costs only its own tokens) and the rest starts the next chunk."""
        size = self.options.chunk_seconds
        while self._chunk_start is not None:
            end = self._chunk_start + size
            room = round((end - t) * SAMPLE_RATE)
            if room > len(samples):
                self._audio.append(samples)
                return
            self._audio.append(samples[: max(room, 0)])
            self._flush(end)
            self._chunk_start = end
            samples = samples[max(room, 0) :]
            t = end
            if not len(samples):
                return

    def ingest_transcript(self, start: float, end: float, text: str) -> None:
        if self.capabilities.hears_audio:
            return  # the thinker hears the raw audio itself
        with self._lock:
            self._advance(end)
            self._transcripts.append(f" (heard {start:.1f}-{end:.1f} s: {text.strip()})")
            self._raise_report()

    def _advance(self, t: float) -> None:
        """Flush the pending chunk once stream time ``t`` has left it."""
        self._stream()
        size = self.options.chunk_seconds
        if self._chunk_start is None:
            self._chunk_start = math.floor(t / size) * size
        elif t >= self._chunk_start + size:
            self._flush(self._chunk_start + size)
            self._chunk_start = math.floor(t / size) * size
        self._now = max(self._now, t)

    def _flush(self, end: float) -> None:
        """Prefill the pending media as one segment ending at ``end``, then apply the memory policies."""
        start = self._chunk_start if self._chunk_start is not None else end
        audio = np.concatenate(self._audio) if self._audio else None
        has_audio = audio is not None and len(audio) >= MIN_AUDIO_SAMPLES
        if not self._frames and not has_audio and not self._transcripts:
            return
        header = f"\n{start:.0f}s:"
        seg = self.adapter.media(
            header, self._frames, audio if has_audio else None, "".join(self._transcripts), end - start
        )
        self._frames = []
        self._transcripts = []
        if has_audio:
            self._audio = []
        self._prefill_media(seg, start, end)
        self._apply_policies(end)

    def _prefill_media(self, seg: SegmentInputs, start: float, end: float) -> None:
        kv = self._stream()
        mark = kv.mark()
        try:
            self._append("media", start, end, seg)
            self.chunks_prefilled += 1
            return
        except torch.OutOfMemoryError:
            kv.rollback(mark)
        old = self.window.window_seconds
        self.window.window_seconds = max(min(self.options.min_window_seconds, old), old / 2)
        kv.evict(self.window.select(kv.segments, end))
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        mark = kv.mark()
        dropped = False
        try:
            self._append("media", start, end, seg)
            self.chunks_prefilled += 1
        except torch.OutOfMemoryError:
            kv.rollback(mark)
            dropped = True
        lost = "; the chunk was dropped" if dropped else ""
        self._report = WindowShrunk(
            f"out of memory while prefilling the stream at {start:.1f}-{end:.1f} s: media window shrunk from "
            f"{old:g} s to {self.window.window_seconds:g} s{lost}; the stream continues",
            window_seconds=self.window.window_seconds,
            dropped=dropped,
        )

    def _raise_report(self) -> None:
        """Raise a recovered out-of-memory condition once the item that met it has been fully taken in."""
        report, self._report = self._report, None
        if report is not None:
            raise report

    def _apply_policies(self, now: float) -> None:
        kv = self._stream()
        kv.evict(self.window.select(kv.segments, now))
        if self.compressor is None:
            return
        for index in self.compressor.due(kv.segments, now):
            keep, merged = self.compressor.compress(
                kv.segment_entries(index), kv.text_keys(), kv.segments[index].vision
            )
            kv.replace_entries(index, keep, merged)

    # ------------------------------------------------------------------ answering
    def _flush_pending(self) -> None:
        """Prefill the chunk still collecting, so a question sees (and hears) the stream up to now."""
        if self._chunk_start is not None:
            self._flush(self._now + 1e-6)
            self._chunk_start = None

    def answer(self, request: AnswerRequest, cancel: CancelToken) -> Iterator[str]:
        with self._lock:
            kv = self._stream()
            self._flush_pending()
            self._add_history(request.history)
            mark = kv.mark()
            try:
                yield from self._decode(kv, request, cancel)
            finally:
                if self.kv is not None:
                    kv.rollback(mark)

    def _add_history(self, history: Sequence[Turn]) -> None:
        """Prefill dialogue turns not seen before as one ``dialogue`` segment (kept by the window)."""
        new = [turn for turn in history if (turn.role, turn.t, turn.text) not in self._seen_turns]
        if not new:
            return
        self._append("dialogue", new[0].t, new[-1].t, self.adapter.text(self.adapter.chat.dialogue(new)))
        self._seen_turns.update((turn.role, turn.t, turn.text) for turn in new)
        kv = self._stream()
        kv.evict(self.window.select(kv.segments, self._now))

    def _decode(self, kv: KvStream, request: AnswerRequest, cancel: CancelToken) -> Iterator[str]:
        question = self.adapter.text(self.adapter.chat.question(request.query, request.instructions))
        mask = None
        if request.context_seconds is not None:
            horizon = request.t - request.context_seconds
            old = [i for i, s in enumerate(kv.segments) if s.kind == "media" and s.t1 <= horizon]
            if old:
                mask = torch.cat([kv.key_mask(old), torch.ones(question.length, dtype=torch.long)])[None]
                mask = mask.to(question.input_ids.device)
        if cancel.cancelled:
            return
        logits = self._append("query", request.t, request.t, question, mask)
        tokens: list[int] = []
        emitted = ""
        tokenizer = self.adapter.tokenizer
        for step in range(request.max_new_tokens):
            token = self._sample(logits)
            if token in self.backend.eos_ids:
                return
            tokens.append(token)
            text = tokenizer.decode(tokens, skip_special_tokens=True)
            if not text.endswith("\ufffd") and len(text) > len(emitted):
                yield text[len(emitted) :]
                emitted = text
            if cancel.cancelled or step == request.max_new_tokens - 1:
                return
            if mask is not None:
                mask = torch.cat([mask, torch.ones((1, 1), dtype=mask.dtype, device=mask.device)], dim=1)
            logits = kv.step(token, mask)

    def judge_addressed(self, text: str, start: float, end: float) -> float:
        """The model's own judgement of whether an utterance was said to it, in the spirit of VITA's state tokens
        but without trained ones: on a fork of the stream (for ``omni`` the raw audio of the utterance is in it), a
        yes/no question about what was said; the answer is the first token's probability of "yes" against "no"."""
        with self._lock:
            kv = self._stream()
            self._flush_pending()
            question = self.adapter.text(self.adapter.chat.question(JUDGE_QUESTION.format(text=text.strip())))
            mark = kv.mark()
            try:
                logits = self._append("query", end, end, question)
            finally:
                kv.rollback(mark)
        yes, no = self.backend.yes_no_ids
        return float(torch.sigmoid(torch.logsumexp(logits[yes], 0) - torch.logsumexp(logits[no], 0)))

    def _sample(self, logits: torch.Tensor) -> int:
        if self.options.temperature <= 0:
            return int(torch.argmax(logits).item())
        probs = torch.softmax(logits.cpu() / self.options.temperature, dim=-1)
        if self.options.top_p < 1:
            sorted_probs, order = torch.sort(probs, descending=True)
            cutoff = torch.cumsum(sorted_probs, dim=-1) - sorted_probs >= self.options.top_p
            sorted_probs[cutoff] = 0
            probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
        return int(torch.multinomial(probs, 1, generator=self._generator).item())

    def close(self) -> None:
        with self._lock:
            self.kv = None
            self._frames = []
            self._audio = []
