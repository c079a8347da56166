"""Every engine option and its default, in one place.

Each group is a frozen dataclass; ``SessionOptions`` bundles them. Interfaces build these from their own flags or
messages and pass them to ``Session``; nothing else in the engine holds a tunable constant.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class VadOptions:
    threshold: float = 0.5  # speech probability that starts speech
    neg_threshold: float = 0.35  # probability below which a chunk counts as silence (hysteresis)
    min_speech_ms: int = 250  # shorter bursts are discarded as noise
    min_silence_ms: int = 500  # silence that ends an utterance (EndOfTurnOptions mode "silence", or no ASR)
    early_asr_ms: int = 100  # silence after which the utterance so far is transcribed speculatively (0 = off)
    pre_roll_ms: int = 300  # audio kept from before the onset and given to ASR
    max_utterance_s: float = 30.0  # an utterance is cut here and transcribed


@dataclass(frozen=True, slots=True)
class EndOfTurnOptions:
    """How long the silence after speech must last before the turn is over, and answering ahead of that."""

    mode: str = "semantic"  # semantic: the wait depends on whether the words so far look finished; silence: fixed
    finished_silence_ms: int = 300  # silence that ends a turn whose words look finished ("what colour is the car?")
    unfinished_silence_ms: int = 1500  # silence that ends one whose words don't ("what colour is the…"), or unheard
    threshold: float = 0.5  # the turn-end model's "finished" odds at which the words count as finished
    check_last_word: bool = True  # ask the recogniser how sure it is of the last word (free with a fitted window)
    sure_last_word: float = 0.6  # below this probability of the last word, the words before it must look finished too
    speculate: bool = True  # start answering a finished-looking turn while its silence runs; dropped if speech goes on

    def __post_init__(self) -> None:
        if self.mode not in ("semantic", "silence"):
            raise ValueError(f"end_of_turn mode must be 'semantic' or 'silence', got {self.mode!r}")
        if not 0 < self.finished_silence_ms <= self.unfinished_silence_ms:
            raise ValueError(
                f"end_of_turn needs 0 < finished_silence_ms <= unfinished_silence_ms, got {self.finished_silence_ms} "
                f"and {self.unfinished_silence_ms}"
            )
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"end_of_turn threshold must be in (0, 1), got {self.threshold}")


@dataclass(frozen=True, slots=True)
class AsrOptions:
    model: str = "base"  # "base" / "tiny.en": shipped Whisper models; or any faster-whisper model name / local path
    device: str = "cpu"  # cpu | cuda (CTranslate2 device)
    compute_type: str = "int8"  # CTranslate2 quantisation: int8 on CPU, float16 / int8_float16 on GPU
    language: str | None = "en"  # spoken language; None = detected per utterance
    beam_size: int = 1  # 1 = greedy decoding (fastest)
    cpu_threads: int = 2  # threads of one transcription
    fit_window: bool = True  # encode the utterance and fit_pad_s of silence, not Whisper's whole 30 s window
    fit_pad_s: float = 5.0  # silence after the utterance in a fitted window (less loses words; tiny.en wants 8)


@dataclass(frozen=True, slots=True)
class IngestOptions:
    fps: float = 2.0  # video frames per second kept from each video source
    video_queue_frames: int = 8  # frames waiting for the model before the oldest is dropped
    audio_queue_chunks: int = 18_750  # 10 minutes of 32 ms chunks: the hard limit before audio is dropped (reported)
    audio_lag_warn_s: float = 2.0  # audio backlog that is reported as an error event
    audio_batch_chunks: int = 64  # a backlog of audio is taken by voice detection and the backend this many at once


@dataclass(frozen=True, slots=True)
class ResponseOptions:
    max_new_tokens: int = 96  # longest answer, in model tokens
    context_seconds: float | None = None  # None = everything kept; 60 = the StreamingBench leaderboard setting
    history_turns: int = 8  # dialogue turns passed back to the model
    max_history: int = 256  # dialogue turns a session keeps (for the model and for truncation); the oldest go first
    instructions: str = ""  # added to the model's system prompt for every response (a response may bring its own)
    max_query_chars: int = 4000  # longer typed questions are refused (a question is not a document to summarise)


@dataclass(frozen=True, slots=True)
class TurnOptions:
    """When a turn ends and is answered, and what the user's speech does to a response that is streaming."""

    barge_in: bool = True  # speech onset pauses the response at once
    auto_response: bool = True  # an accepted turn is answered at once; False: it waits for Session.create_response
    manual_turns: bool = False  # the interface ends turns (Session.commit_audio): no VAD turns, no gate, no auto answer
    min_commit_ms: int = 100  # a committed turn shorter than this is refused
    interrupt_after_s: float = 0.6  # speech lasting this long cancels the paused response, before any transcript
    false_interruption_timeout_s: float = 1.5  # no query this long after the onset: the paused response resumes
    echo_threshold: float = 0.55  # correlation with the assistant's own playback above which mic audio is echo
    echo_max_delay_s: float = 0.3  # longest loudspeaker → microphone delay considered
    echo_span_s: float = 0.128  # microphone audio correlated with the playback at once
    echo_keep_s: float = 30.0  # playback remembered for the echo check


@dataclass(frozen=True, slots=True)
class GateOptions:
    threshold: float | None = None  # accepting probability; None = stored with the trained weights (0.5 for model)
    assistant_name: str | None = None  # calling the assistant by this name accepts the utterance
    far_field_dbfs: float = -40.0  # utterances quieter than this count as far-field (TV, people across the room)
    far_field_penalty: float = 2.0  # logit taken off far-field utterances
    long_utterance_s: float = 12.0  # utterances longer than this are more likely narration or conversation
    long_utterance_penalty: float = 1.0  # logit taken off long utterances
    max_playback_overlap: float = 0.5  # share of the utterance overlapping assistant playback that marks it as echo

    def __post_init__(self) -> None:
        if not 0.0 < self.max_playback_overlap <= 1.0:
            raise ValueError(f"max_playback_overlap must be in (0, 1], got {self.max_playback_overlap}")
        if self.far_field_penalty < 0 or self.long_utterance_penalty < 0:
            raise ValueError(
                f"penalties must be >= 0, got far_field_penalty={self.far_field_penalty} "
                f"long_utterance_penalty={self.long_utterance_penalty}"
            )


@dataclass(frozen=True, slots=True)
class ProactiveOptions:
    check_interval_s: float = 1.0  # stream seconds between checks of the standing instructions
    max_instructions: int = 16  # standing instructions a session holds at once; more are refused


@dataclass(frozen=True, slots=True)
class SessionOptions:
    vad: VadOptions = field(default_factory=VadOptions)  # voice detection, and the end of turn in silence mode
    end_of_turn: EndOfTurnOptions = field(default_factory=EndOfTurnOptions)  # semantic end of turn, speculation
    asr: AsrOptions = field(default_factory=AsrOptions)  # speech recognition
    ingest: IngestOptions = field(default_factory=IngestOptions)  # frame rate and queues
    response: ResponseOptions = field(default_factory=ResponseOptions)  # answers
    turns: TurnOptions = field(default_factory=TurnOptions)  # turn taking and barge-in
    proactive: ProactiveOptions = field(default_factory=ProactiveOptions)  # standing instructions
    gate_mode: str = "gate"  # always | gate (learned, no wake word) | wake (needs a name) | model (omni/vlm judges)
    gate: GateOptions = field(default_factory=GateOptions)  # the learned gate's thresholds and cues
    metrics_interval_s: float = 5.0  # stream seconds between periodic ``metrics`` events
    metrics_ttft_window: int = 1000  # the time-to-first-token median in ``metrics`` is over this many latest answers
    subscriber_queue_events: int = 100_000  # events a subscriber may fall behind before it is disconnected
