"""EfficientNet-Lite0 on real photos from skimage.data, and the ImageNet vocabulary's plain words and parents."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from engine.vision import imagenet
from engine.vision.classifier import ImageClassifier
from engine.vision.detector import ObjectDetector
from engine.vision.types import Box
from tests.vision_support import require


@pytest.fixture(scope="module")
def classifier() -> ImageClassifier:
    require("classifier")
    return ImageClassifier.load()


def test_the_cat_is_a_cat(classifier):
    labels = classifier.classify(skimage.data.chelsea(), top=3)
    assert labels[0].name in {"Egyptian cat", "tabby", "tiger cat"} and labels[0].score > 0.4
    assert imagenet.plain_name(labels[0].name) == "cat"
    assert imagenet.parents(labels[0].name)[-1] == "animal"
    assert [label.score for label in labels] == sorted((label.score for label in labels), reverse=True)


def test_coffee_is_espresso_in_a_cup(classifier):
    labels = classifier.classify(skimage.data.coffee(), top=3)
    assert labels[0].name == "espresso" and imagenet.plain_name("espresso") == "coffee"
    assert "cup" in {label.name for label in labels}


def test_a_detected_box_is_classified_on_its_own(classifier):
    require("detector")
    image = skimage.data.stereo_motorcycle()[1]
    moto = next(d for d in ObjectDetector.load().detect(image) if d.label == "motorcycle")
    labels = classifier.classify(image, moto.box, top=2)
    assert {label.name for label in labels} & {"moped", "motor scooter"}
    assert "vehicle" in imagenet.parents(labels[0].name)


def test_grey_rgba_and_bad_frames(classifier):
    rgb = skimage.data.chelsea()
    grey = rgb.mean(axis=2).astype(np.uint8)
    assert imagenet.plain_name(classifier.classify(grey, top=1)[0].name) == "cat"
    rgba = np.dstack([rgb, np.zeros(rgb.shape[:2], np.uint8)])
    assert classifier.classify(rgba, top=1)[0].name == classifier.classify(rgb, top=1)[0].name
    with pytest.raises(ValueError, match=r"\(4, 4\) is too small"):
        classifier.classify(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="outside"):
        classifier.classify(rgb, Box(1000, 1000, 1100, 1100))


def test_vocabulary_has_all_classes_with_plain_words():
    classes = imagenet.classes()
    assert len(classes) == 1000 and classes[285].name == "Egyptian cat" and classes[285].synset == "n02124075"
    assert {imagenet.plain_name(n) for n in ("Egyptian cat", "tabby", "Persian cat")} == {"cat"}
    assert imagenet.plain_name("golden retriever") == "dog" and imagenet.parents("golden retriever")[-1] == "animal"
    assert imagenet.plain_name("moped") == "scooter" and "motorbike" in imagenet.parents("moped")
    assert imagenet.plain_name("bow tie") == "bow tie" and "tie" in imagenet.parents("bow tie")
    assert imagenet.parents("pizza") == ("food",) and imagenet.parents("sports car") == ("vehicle",)
    assert all(entry.parents for entry in classes)
