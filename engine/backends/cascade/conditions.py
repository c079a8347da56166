"""Standing-instruction checks for the cascade: conditions about text on screen, colours, movement or speech.

A condition is classified by its words: a colour name → "is that colour dominant now"; movement words → "is
something moving now"; speech words ("says", "hear", "mentions") with the words to listen for → "did a transcript
since the last check contain them"; otherwise the condition's remaining content words (numbers, names) must all be
on screen now ("the scoreboard shows 3" → "3" is read in the frame). Conditions about people, objects or actions
the cascade cannot see return None: the session then tells the user it cannot watch for them.
"""

from __future__ import annotations

from engine.backends.cascade.colours import ColourRegion
from engine.backends.cascade.words import content_words, wordset
from engine.proactive import ConditionCheck

COLOURS = wordset("red green blue yellow orange purple pink white black gray brown cyan")
_SCREEN = wordset(
    "screen sign scoreboard board score display displays shows show says say read reads written text word number "
    "appear appears caption title label banner reach reaches become becomes turn turns change changes"
)
_MOTION = wordset("move moves moving movement motion moved")
_SPEECH = wordset("say says said hear heard mention mentions mentioned announce announces announced talk talks speak")
_UNSEEABLE = wordset(
    "someone somebody anyone anybody person people man woman men women child kid dog cat car bus train enter enters "
    "leave leaves walk walks run runs sit sits stand stands open opens close closes arrive arrives"
)
_DOMINANT = 0.25  # share of the frame a colour must cover to count as "the" colour


def check(
    condition: str,
    *,
    visible_texts: list[str],
    colours: tuple[ColourRegion, ...],
    moving: bool,
    new_speech: list[str],
) -> ConditionCheck | None:
    words = content_words(condition)
    spoken = words & _SPEECH
    if spoken:
        wanted = words - _SPEECH - _SCREEN - _UNSEEABLE
        if not wanted:
            return None
        heard = [text for text in new_speech if wanted <= content_words(text)]
        return ConditionCheck(bool(heard), 1.0 if heard else 0.0, heard[0] if heard else "")
    colour_words = words & COLOURS
    if colour_words:
        share = sum(c.fraction for c in colours if c.name in colour_words)
        return ConditionCheck(share >= _DOMINANT, round(share, 3), ", ".join(c.describe() for c in colours))
    if words & _MOTION and not (words - _MOTION - _SCREEN - {"something", "anything"}):
        return ConditionCheck(moving, 1.0 if moving else 0.0)
    if words & _UNSEEABLE:
        return None
    wanted = words - _SCREEN
    if not wanted:
        return None
    on_screen = set().union(*(content_words(text) for text in visible_texts)) if visible_texts else set()
    found = wanted & on_screen
    return ConditionCheck(found == wanted, round(len(found) / len(wanted), 3), "; ".join(visible_texts))
