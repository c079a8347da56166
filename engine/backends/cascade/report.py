"""What one cascade stream perceived, as the session's ``perception`` and ``noticed`` events.

After each frame, ``PerceptionReport.after`` turns the latest observation and the scene log into events: a
``Perception`` when a recognition model or OCR ran on the frame (the objects and people still in view, the text last
read), and a ``Noticed`` for each object, text, scene cut or people entry the log began since the last call, and for
each concept no longer tracked (unseen for the log's ``leave_after_s``, or gone at a cut).
"""

from __future__ import annotations

from engine.backends.cascade.ocr import TextLine
from engine.backends.cascade.perception import Observation
from engine.backends.cascade.scene_log import Entry, SceneLog
from engine.events import Error, Event, Noticed, NoticedKind, Perception

_NOTICED: dict[str, NoticedKind] = {"object": "object", "text": "text", "scene": "scene", "people": "people"}


def _box(box: tuple[float, float, float, float] | None) -> list[float] | None:
    return None if box is None else [round(float(v), 4) for v in box]


def notice_id(entry: Entry) -> str | None:
    """The id of the ``noticed`` event an entry began (what an answer's evidence names); None for an entry that
    begins none (colours, movement, speech: speech is the transcript's)."""
    return f"n{entry.number}" if entry.kind in _NOTICED else None


def _noticed(entry: Entry) -> Noticed | None:
    kind = _NOTICED.get(entry.kind)
    if kind is None:
        return None
    text = {"text": f"read '{entry.content}'", "people": f"people: {entry.content}"}.get(kind, entry.content)
    return Noticed(t=entry.start, notice_id=f"n{entry.number}", kind=kind, text=text)


class PerceptionReport:
    """Per stream; called from the ingest thread only."""

    def __init__(self, log: SceneLog) -> None:
        self.log = log
        self._logged = log.added
        self._texts: tuple[TextLine, ...] = ()
        self._in_view: set[str] = set()
        self._left = 0  # "left the view" notices so far (their ids: l1, l2, …)

    def after(self, observation: Observation) -> list[Event]:
        events: list[Event] = [
            Error(
                t=observation.t, source="perception", message=f"{message}; that frame is skipped and the stream goes on"
            )
            for _, message in observation.problems
        ]
        objects, people = self.log.in_view()
        if observation.texts is not None:
            self._texts = observation.texts
        ran = any(part is not None for part in (observation.objects, observation.texts, observation.people))
        if ran:
            events.append(
                Perception(
                    t=observation.t,
                    objects=[
                        {"label": o.concept, "score": round(o.score, 3), "box": _box(o.box)}
                        for o in sorted(objects, key=lambda o: -o.score)
                    ],
                    texts=[{"text": line.text, "box": _box(line.box)} for line in self._texts],
                    people=[{"box": _box(p.box), "facts": list(p.facts)} for p in people or ()],
                )
            )
        self._logged, entries = self.log.since(self._logged)
        for entry in entries:
            noticed = _noticed(entry)
            if noticed is not None:
                events.append(noticed)
        if observation.objects is not None or observation.scene_change:
            concepts = self.log.tracked()
            for concept in sorted(self._in_view - concepts):
                self._left += 1
                events.append(
                    Noticed(t=observation.t, notice_id=f"l{self._left}", kind="left", text=f"{concept} left the view")
                )
            self._in_view = concepts
        return events
