"""Property-based fuzzing of the two parsers that take outside input: the websocket protocol and the StreamingBench
loader. Whatever arrives, they either return a typed result or raise their own clear error; nothing else escapes."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.realtime_protocol import _PARSERS, ProtocolError, parse_client_event
from eval.loader import parse_annotations

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
event_types = st.sampled_from([*_PARSERS, "bogus.event", ""])
field_names = st.sampled_from(
    [
        "event_id",
        "audio",
        "item",
        "session",
        "response",
        "item_id",
        "content_index",
        "audio_end_ms",
        "image",
        "timestamp",
        "type",
        "content",
        "role",
        "text",
        "modalities",
    ]
)


def _expect_clean(raw: str | bytes) -> None:
    try:
        parse_client_event(raw)
    except ProtocolError as err:
        assert str(err)  # every refusal says what was wrong


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_types, st.dictionaries(field_names, json_values, max_size=6))
def test_any_event_shape_is_parsed_or_refused_with_a_protocol_error(kind, fields):
    _expect_clean(json.dumps({**fields, "type": kind}))


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=60), st.binary(max_size=60), json_values.map(json.dumps)))
def test_arbitrary_messages_are_refused_cleanly(raw):
    _expect_clean(raw)


question = st.fixed_dictionaries(
    {},
    optional={
        "task_type": st.sampled_from(["Object Recognition", "Counting", "Proactive Output", "Clips Summarize", "??"])
        | st.text(max_size=8),
        "question": st.text(max_size=30) | st.integers(),
        "time_stamp": st.sampled_from(["00:00:31", "0:00:31", "00:00:8", "00:24", "00:12450", "x", ""]) | json_values,
        "options": st.lists(st.text(max_size=12), max_size=5) | json_values,
        "answer": st.sampled_from(["A", "B", "C", "D", "", "Z"]) | json_values,
        "ground_truth_time_stamp": st.sampled_from(["00:00:40", "bad"]) | json_values,
        "ground_truth_output": st.text(max_size=10) | json_values,
    },
)
entry = st.fixed_dictionaries(
    {},
    optional={
        "video_path": st.text(max_size=12) | json_values,
        "questions": st.lists(question, max_size=3) | json_values,
        "time": st.text(max_size=10),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.lists(entry, max_size=4), st.lists(st.lists(entry, max_size=3), max_size=3), json_values))
def test_any_annotation_file_loads_with_problems_named_never_an_exception(data):
    loaded = parse_annotations("fuzz.json", data)
    for problem in loaded.problems:
        assert problem.file == "fuzz.json" and str(problem.message)
