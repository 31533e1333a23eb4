import json

import numpy as np
import pytest
import torch

from ganlib.models import classifier
from ganlib.models.checkpoints import CheckpointError


def bright_or_dark(rng, n=64):
    """uint8 (n, 28, 28, 1) images whose label is whether their left or right half is brighter."""
    labels = rng.integers(0, 2, n)
    images = rng.integers(0, 80, (n, 28, 28, 1))
    for image, label in zip(images, labels):
        image[:, 14 * label:14 * label + 14] += 150
    return images.astype(np.uint8), labels


def test_training_is_deterministic_and_learns(rng):
    images, labels = bright_or_dark(rng)
    a, history = classifier.train(images, labels, 40, 16, 3e-3, seed=1, progress=False)
    b, _ = classifier.train(images, labels, 40, 16, 3e-3, seed=1, progress=False)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    preds, feats = classifier.classify(a, images, batch=10)
    assert preds.shape == (64,) and feats.shape == (64, classifier.FEATURES) and (feats >= 0).all()
    assert (preds == labels).mean() > 0.9 and history["loss"][-5:].mean() < history["loss"][:5].mean()


def test_any_side_from_16_px_gives_the_same_head(rng):
    for side, channels in ((32, 3), (64, 1)):
        model = classifier.Classifier(channels, 4)
        assert model(torch.zeros(2, channels, side, side)).shape == (2, 4)


def test_saved_classifier_loads_and_a_foreign_file_is_refused(tmp_path, rng):
    images, labels = bright_or_dark(rng, 16)
    model, _ = classifier.train(images, labels, 2, 8, 1e-3, seed=0, progress=False)
    classifier.save(tmp_path, model, images, {"test_accuracy": 0.5})
    loaded, meta = classifier.load_classifier(tmp_path)
    assert meta["classes"] == 2 and meta["test_accuracy"] == 0.5 and len(meta["data_fingerprint"]) == 8
    assert np.array_equal(classifier.classify(loaded, images)[0], classifier.classify(model, images)[0])
    (tmp_path / "classifier.json").write_text(json.dumps({**meta, "classes": 3}))
    with pytest.raises(CheckpointError, match="not a classifier"):
        classifier.load_classifier(tmp_path)
    with pytest.raises(FileNotFoundError, match="make classifier"):
        classifier.load_classifier(tmp_path / "elsewhere")


def test_bad_parameters_name_themselves():
    with pytest.raises(ValueError, match="batch_size"):
        classifier.check_params(10, 0, 1e-3)
    with pytest.raises(ValueError, match="lr"):
        classifier.check_params(10, 8, -1.0)
