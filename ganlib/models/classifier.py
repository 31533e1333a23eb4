"""The feature network of the realism study: a small CNN classifier trained in the project on the
training split only (pretrained networks cannot be downloaded here, and Inception features mean
little on 28-pixel images; the MMD-GAN reference code uses a small MNIST classifier likewise).

Its penultimate layer (:data:`FEATURES` values after a ReLU) gives the features of KID and FID
(:mod:`ganlib.evaluation.realism`); its prediction gives the class an image shows. Saved as
safetensors with a JSON of its size, training settings, test accuracy and the training data's
fingerprint (:func:`ganlib.models.learned.data_fingerprint`).
"""
from __future__ import annotations

import json
import time

import numpy as np
import torch
from safetensors.torch import load, save_file
from torch import nn

from ganlib.core import files, params, paths, runtime
from ganlib.models.checkpoints import CheckpointError
from ganlib.models.learned import data_fingerprint

FEATURES = 128  # width of the penultimate layer: the feature space of KID and FID
MAX_CLASSES = 1000


class Classifier(nn.Module):
    """image (B, C, S, S) in [-1, 1] -> class logits (B, classes); :meth:`features`: (B, FEATURES) >= 0.
    LeNet-sized: two 3x3 conv blocks with 2x2 max pooling, then a 4x4 average pool, so any side
    of 16 px or more gives the same head."""

    def __init__(self, channels: int, classes: int):
        super().__init__()
        self.channels, self.classes = channels, classes
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(True), nn.MaxPool2d(2),  # (B, 32, S/2, S/2)
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(True), nn.MaxPool2d(2),  # (B, 64, S/4, S/4)
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),  # (B, 1024)
            nn.Linear(64 * 16, FEATURES), nn.ReLU(True))  # (B, FEATURES)
        self.head = nn.Linear(FEATURES, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def check_params(steps: int, batch_size: int, lr: float) -> None:
    params.steps("steps", steps)
    params.int_range("batch_size", batch_size, 1, 65536)
    params.positive("lr", lr)


def train(images: np.ndarray, labels: np.ndarray, steps: int, batch_size: int, lr: float, seed: int,
          progress: bool = True) -> tuple[Classifier, dict]:
    """Train a :class:`Classifier` on uint8 ``images`` (N, H, W, C) with int ``labels`` (N,) in
    0..classes-1: Adam, cross-entropy, ``steps`` batches drawn with replacement from ``seed``
    (deterministic for a fixed seed on one device). Returns the model (eval mode) and its history
    (``loss`` per step, ``seconds``)."""
    check_params(steps, batch_size, lr)
    dev = runtime.device()
    torch.manual_seed(seed)
    classes = int(labels.max()) + 1
    model = Classifier(images.shape[3], classes).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = torch.tensor(images).to(dev), torch.tensor(labels, dtype=torch.long).to(dev)
    gen = torch.Generator().manual_seed(seed)
    losses, start = [], time.perf_counter()
    for _ in runtime.progress(range(steps), desc="classifier", disable=not progress):
        idx = torch.randint(len(x), (batch_size,), generator=gen).to(dev)
        loss = nn.functional.cross_entropy(model(runtime.to_float(x[idx])), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model.eval(), {"loss": np.array(losses), "seconds": time.perf_counter() - start}


@torch.no_grad()
def classify(model: Classifier, images: np.ndarray, batch: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """The predicted class (int64 (N,)) and the features (float64 (N, FEATURES)) of uint8 ``images``
    (N, H, W, C), in batches of ``batch``."""
    dev = next(model.parameters()).device
    preds, feats = [], []
    for start in range(0, len(images), batch):
        f = model.features(runtime.to_tensor(images[start:start + batch], dev))
        preds.append(model.head(f).argmax(1).cpu().numpy())
        feats.append(f.double().cpu().numpy())
    if not preds:
        return np.zeros(0, np.int64), np.zeros((0, FEATURES))
    return np.concatenate(preds).astype(np.int64), np.concatenate(feats)


def save(run: str | paths.RunDir, model: Classifier, train_images: np.ndarray, meta: dict) -> None:
    """Write ``classifier.safetensors``, then ``classifier.json`` (size, ``meta``, the training images'
    fingerprint; last: it marks the stage complete)."""
    run = paths.RunDir(run)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with files.atomic_path(run.classifier) as tmp:
        save_file(state, str(tmp))
    info = {"channels": model.channels, "classes": model.classes, "data_fingerprint": data_fingerprint(train_images),
            **meta}
    files.write_text(run.classifier_config, json.dumps(info, indent=2))


def load_classifier(run: str | paths.RunDir) -> tuple[Classifier, dict]:
    """The run's classifier (eval mode, on :func:`ganlib.core.runtime.device`) and its JSON;
    FileNotFoundError naming the stage that writes it, :class:`CheckpointError` if it is not one."""
    run = paths.RunDir(run)
    paths.require(run.classifier, "notebooks/02c_train_classifier.ipynb (make classifier)")
    meta = files.read_json(run.classifier_config)
    try:
        params.int_range("channels", meta["channels"], 1, 3)
        params.int_range("classes", meta["classes"], 2, MAX_CLASSES)
        model = Classifier(meta["channels"], meta["classes"])
        model.load_state_dict(load(files.read_regular(run.classifier, 64 << 20)))
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{run.classifier}: not a classifier of this project ({params.one_line(exc, 300)})"
                              ) from None
    return model.to(runtime.device()).eval(), meta
