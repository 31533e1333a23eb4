import numpy as np
import pytest
import torch

from ganlib.models.nets import GanConfig, Generator, init_weights


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def images(rng):
    """Eight smooth-ish uint8 (28, 28, 1) test images (blobs on a dark background)."""
    yy, xx = np.mgrid[:28, :28]
    out = []
    for _ in range(8):
        cy, cx, r = rng.uniform(8, 20), rng.uniform(8, 20), rng.uniform(4, 9)
        img = 220 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)) + rng.normal(0, 4, (28, 28))
        out.append(np.clip(img, 0, 255).astype(np.uint8)[..., None])
    return np.stack(out)


@pytest.fixture
def small_generator():
    """A fixed, randomly initialised generator (latent 8, width 8, 28x28x1), eval mode."""
    torch.manual_seed(0)
    G = Generator(GanConfig(latent_dim=8, width=8, image_size=28, channels=1))
    G.apply(init_weights)
    return G.eval()


def _mutate(blob: bytes, edits) -> bytes:
    """``blob`` after ``edits``, a list of (kind, position, value): flip bit value % 8, set, insert or
    delete the byte at position modulo the length (the fuzz tests' mutations)."""
    body = bytearray(blob)
    for kind, pos, value in edits:
        i = pos % (len(body) + (kind == "insert")) if body or kind == "insert" else 0
        if kind == "flip" and body:
            body[i] ^= 1 << (value % 8)
        elif kind == "set" and body:
            body[i] = value
        elif kind == "insert":
            body.insert(i, value)
        elif kind == "delete" and body:
            del body[i]
    return bytes(body)


@pytest.fixture(scope="session")
def mutate():
    """The fuzz tests' byte mutations (:func:`_mutate`)."""
    return _mutate
