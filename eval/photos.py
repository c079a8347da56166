"""Real photos that ship in the scikit-image wheel (``skimage.data``), and what each one truly shows.

The ground truth was written by looking at each picture (and measuring the colours of its main object's pixels):
the things a question may ask about (label, own colours, where in the photo), other things truly visible that an
answer may name but no question asks about (``also``), other colours present, and the legible text. These records are
what the real-photo suite's answers and its grounding audit are checked against.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np


@dataclass(frozen=True, slots=True)
class Thing:
    label: str  # the plain word a user would say ("cat", "cup", "motorcycle")
    colours: tuple[str, ...]  # its own colours, main one first
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the photo


@dataclass(frozen=True, slots=True)
class Photo:
    name: str  # the skimage.data function that loads it
    title: str  # the photo described as a multiple-choice option ("A cat.")
    main: str  # label of the thing the photo is of
    things: tuple[Thing, ...]
    also: tuple[str, ...] = ()  # other things truly visible (may be named in an answer, never asked about)
    colours: tuple[str, ...] = ()  # other colours in the photo (background, details)
    text: tuple[str, ...] = ()  # the legible text, line by line
    animal: bool = False

    @property
    def thing(self) -> Thing:
        return next(t for t in self.things if t.label == self.main)

    def labels(self) -> set[str]:
        return {t.label for t in self.things} | set(self.also)


PHOTOS: dict[str, Photo] = {
    p.name: p
    for p in (
        Photo(
            "chelsea",
            "A cat.",
            "cat",
            (Thing("cat", ("brown", "grey", "white", "black"), (0.0, 0.0, 0.95, 1.0)),),  # a brown tabby, dark stripes
            also=("eye", "nose", "whiskers"),
            colours=("green", "pink"),  # the eyes, the nose
            animal=True,
        ),
        Photo(
            "coffee",
            "A cup of coffee.",
            "cup",
            (
                Thing("cup", ("red", "brown", "white"), (0.29, 0.04, 0.69, 0.75)),
                Thing("saucer", ("red", "brown"), (0.12, 0.18, 0.8, 0.97)),
                Thing("spoon", ("grey",), (0.54, 0.16, 0.71, 0.82)),
            ),
            also=("coffee", "table", "plate"),
            colours=("brown", "black"),  # the wooden table and the coffee; the dark corner at the top left
        ),
        Photo(
            "astronaut",
            "An astronaut in an orange spacesuit.",
            "person",
            (
                Thing("person", ("orange", "red", "white"), (0.03, 0.03, 0.72, 1.0)),
                Thing("spacesuit", ("orange", "red"), (0.03, 0.3, 0.72, 1.0)),  # orange-red: hue 14 degrees
                Thing("flag", ("red", "white", "blue"), (0.0, 0.0, 0.19, 1.0)),
                Thing("helmet", ("black", "white"), (0.54, 0.67, 1.0, 1.0)),
            ),
            also=("rocket", "space shuttle", "patch", "badge", "star"),
            colours=("grey", "purple", "black", "yellow"),  # the backdrop, the mission patch, the stand
            text=("COLLINS ASHBY", "COLEMAN HAWLEY TOGNINI", "EILEEN M. COLLINS"),
        ),
        Photo(
            "rocket",
            "A rocket on its launch pad.",
            "rocket",
            (Thing("rocket", ("white", "grey"), (0.485, 0.3, 0.52, 0.9)),),
            also=("tower", "launch pad", "sky", "lamp", "cloud"),
            colours=("blue", "black", "yellow", "orange"),  # the dusk sky, the towers, the pad lights
        ),
        Photo(
            "motorcycle",
            "A motorcycle.",
            "motorcycle",
            (Thing("motorcycle", ("red", "black", "grey"), (0.13, 0.15, 0.93, 0.91)),),
            also=("bicycle", "bench", "box", "shelf", "bottle", "garage", "wheel", "seat", "floor", "wall", "door"),
            colours=("brown", "white", "yellow", "orange", "grey"),  # wood, boxes, the bottle, the indicators, floor
            text=("YAMAHA", "MAXIM 400"),
        ),
        Photo(
            "horse",
            "A horse.",
            "horse",
            (Thing("horse", ("black",), (0.03, 0.05, 0.97, 0.95)),),
            colours=("white",),
            animal=True,
        ),
        Photo(
            "camera",
            "A man filming with a camera on a tripod.",
            "person",
            (
                Thing("person", ("black",), (0.0, 0.12, 0.65, 1.0)),
                Thing("camera", ("grey", "black"), (0.49, 0.27, 0.64, 0.37)),
                Thing("tripod", ("grey",), (0.44, 0.37, 0.8, 1.0)),
            ),
            also=("man", "building", "tower", "grass", "field", "sky", "coat", "glove", "dome"),
            colours=("grey", "white", "black"),  # a black-and-white photo
        ),
        Photo(
            "page",
            "A page of printed text.",
            "page",
            (Thing("page", ("grey", "white"), (0.0, 0.0, 1.0, 1.0)),),
            also=("text", "paper", "book", "document"),
            colours=("black",),
            text=(
                "Region-based segmentation",
                "Let us first determine markers of the coins and the",
                "background. These markers are pixels that we can label",
                "unambiguously as either object or background. Here,",
                "the markers are found at the two extreme parts of the",
                "histogram of grey values:",
            ),  # the photo's last 25 rows (a line of code and a half-cut web address) are cropped off
        ),
        Photo(
            "hubble_deep_field",
            "A deep-space photo of galaxies.",
            "galaxy",
            (Thing("galaxy", ("white", "orange", "yellow", "blue"), (0.0, 0.0, 1.0, 1.0)),),
            also=("star", "space", "sky"),
            colours=("black", "red"),
        ),
        Photo(
            "immunohistochemistry",
            "A stained tissue sample under a microscope.",
            "tissue",
            (Thing("tissue", ("brown", "blue", "white"), (0.0, 0.0, 1.0, 1.0)),),
            also=("cell", "sample"),
            colours=("purple",),
        ),
    )
}
ANIMALS_NOT_SHOWN = ("dog", "bird", "cow", "sheep", "elephant", "bear", "zebra", "giraffe")
OBJECT_TITLES_NOT_SHOWN = (
    "A laptop.",
    "A pizza.",
    "A bus.",
    "A teddy bear.",
    "A potted plant.",
    "A clock.",
    "An umbrella.",
    "A toaster.",
)
COLOUR_NAMES = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "grey")


@cache
def load_photo(name: str) -> np.ndarray:
    """The photo as RGB uint8 (grey and boolean pictures turned into three channels, alpha dropped)."""
    from skimage import data

    if name == "motorcycle":
        image = data.stereo_motorcycle()[0]  # the left view
    elif name == "page":
        image = data.page()[:166]  # down to the rule under the paragraph: no line cut in half
    else:
        image = getattr(data, name)()
    image = np.asarray(image)
    if image.dtype == bool:
        image = np.where(image, 255, 0).astype(np.uint8)  # the horse: False pixels; drawn black on white
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))
