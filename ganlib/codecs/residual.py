"""A residual (enhancement) layer on top of GAN reversal: one file holds the latent file of the
base image b = G(z_hat) and, after it, a coding of x given b, so quality no longer stops at the
generator's ceiling. Images are uint8 (H, W, C).

The file (codec ids ``gan_residual`` and ``gan_residual_webp``) is a layered file
(:mod:`ganlib.formats.layered_format`: a marker byte with the enhancement's kind, the base layer,
a latent file that :class:`ganlib.codecs.gan.GanCodec` decodes on its own, the enhancement layer
and a checksum). Enhancement layers: :class:`LearnedResidual` (a trained
:class:`ganlib.models.learned.ConditionalPrior`, named in the file by its fingerprint),
:class:`WebpResidual` (WebP on the residual, the control) and :class:`BaseOnly` (empty: the base
alone, ``gan_residual`` at λ = 0). :class:`Decoder` reads any layered or latent file of a model.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ganlib.codecs import classical
from ganlib.core import files, params, paths, runtime
from ganlib.formats import latent_format, layered_format
from ganlib.formats.interface import Codec, CodecError
from ganlib.models import learned


class LearnedResidual:
    """x given b with a trained :class:`ganlib.models.learned.ConditionalPrior`; its bytes are the
    entropy coder's string."""

    family, kind = "gan_residual", "learned"

    def __init__(self, model: learned.ConditionalPrior, lam: float):
        self.model, self.param = model.cpu().eval(), lam
        digest = hashlib.sha256()
        for name, tensor in sorted(self.model.state_dict().items()):
            digest.update(name.encode() + tensor.detach().contiguous().numpy().tobytes())
        self.coder = digest.digest()[:layered_format.CODER_BYTES]  # what a layered file names its coder by

    def _unit(self, image: np.ndarray) -> torch.Tensor:
        return learned.pad(learned.to_unit(image[None]), learned.multiple("conditional", self.model.down))

    def encode(self, image: np.ndarray, base: np.ndarray) -> bytes:
        with torch.no_grad():
            return self.model.compress(self._unit(image), self._unit(base))["strings"][0][0]

    def decode(self, data: bytes, base: np.ndarray) -> np.ndarray:
        b = self._unit(base)
        shape = tuple(s // learned.multiple("conditional", self.model.down) for s in b.shape[-2:])
        with torch.no_grad():
            x = self.model.decompress([[bytes(data)]], shape, b)["x_hat"]
        return runtime.to_uint8(learned.crop(x, *base.shape[:2]) * 2 - 1)[0]


class BaseOnly:
    """No enhancement: an empty layer, decoded as the base image itself (``gan_residual`` at λ = 0)."""

    family, kind, param, coder = "gan_residual", "base", 0.0, b""

    def encode(self, image: np.ndarray, base: np.ndarray) -> bytes:
        return b""

    def decode(self, data: bytes, base: np.ndarray) -> np.ndarray:
        if data:
            raise CodecError(f"an enhancement layer of {len(data)} bytes, but this decoder has no coder for it")
        return base


class WebpResidual:
    """x given b as WebP at ``quality`` of r = clip(round((x - b) / 2) + 128, 0, 255): residuals
    beyond ±255 lose their last bit and their extremes."""

    family, kind, coder = "gan_residual_webp", "webp", b""

    def __init__(self, quality: int, channels: int = 1):
        self.param, self.webp = quality, classical.codec("webp", quality, channels)

    def encode(self, image: np.ndarray, base: np.ndarray) -> bytes:
        r = np.clip(np.round((image.astype(np.int16) - base.astype(np.int16)) / 2) + 128, 0, 255)
        return self.webp.encode(r.astype(np.uint8))

    def decode(self, data: bytes, base: np.ndarray) -> np.ndarray:
        r = self.webp.decode(data).astype(np.int16).reshape(base.shape)
        return np.clip(base.astype(np.int16) + 2 * (r - 128), 0, 255).astype(np.uint8)


class Layered(Codec):
    """GAN reversal's base layer (``base``: a :class:`ganlib.codecs.gan.GanCodec`) plus an enhancement
    layer, in one file (docs/formats.md). Named after the enhancement's family; its parameter is
    the enhancement's."""

    def __init__(self, base, enhancement: LearnedResidual | WebpResidual | BaseOnly):
        self.base, self.enhancement = base, enhancement
        self.name, self.param = enhancement.family, enhancement.param
        self.version = base.version

    def encode_batch(self, images: np.ndarray, base_files: Sequence[bytes] | None = None) -> list[bytes]:
        """uint8 (B, H, W, C) -> one layered file per image; ``base_files``: base layers already
        encoded for these images (so that several enhancement rates share one search)."""
        base_files = self.base.encode_batch(images) if base_files is None else list(base_files)
        bases = self.base.decode_batch(base_files)
        e = self.enhancement
        return [layered_format.pack(layered_format.LayeredFile(e.kind, f, e.encode(x, b), e.coder))
                for f, x, b in zip(base_files, images, bases, strict=True)]

    def encode(self, image: np.ndarray) -> bytes:
        return self.encode_batch(image[None])[0]

    def decode_base(self, data: bytes) -> np.ndarray:
        """The base layer alone, G(z_hat): what a decoder without the enhancement layer shows."""
        return self.base.decode(self._unpack(data).base)

    def _unpack(self, data: bytes) -> layered_format.LayeredFile:
        f, e = layered_format.unpack(data), self.enhancement
        if (f.kind, f.coder) != (e.kind, e.coder):
            raise CodecError(f"a layered file of kind {f.kind} {f.coder.hex()}, not of this codec's {e.kind} "
                             f"{e.coder.hex()}".replace("  ", " ").rstrip())
        return f

    def decode(self, data: bytes) -> np.ndarray:
        return decode_layers(self._unpack(data), self.base, self.enhancement)

    def decode_batch(self, blobs: Sequence[bytes]) -> np.ndarray:
        """Files -> uint8 (N, H, W, C): :meth:`decode` of each, with the base layers in one generator
        pass (:meth:`ganlib.codecs.gan.GanCodec.decode_batch`, the same pixels)."""
        parts = [self._unpack(blob) for blob in blobs]
        bases = self.base.decode_batch([f.base for f in parts])
        return np.stack([enhance(f, b, self.enhancement) for f, b in zip(parts, bases, strict=True)])

    def payload_span(self, data: bytes) -> tuple[int, int]:
        """From the base layer's payload to the checksum: the marker, the base's length and header,
        and the file's checksum are header (the base's own CRC, inside the span, counts as payload)."""
        return 2 + latent_format.HEADER_BYTES, len(data) - layered_format.CHECK_BYTES


def decode_layers(f: layered_format.LayeredFile, base, enhancement) -> np.ndarray:
    """The image of a layered file's parts ``f`` (not lossless): the base layer decoded by ``base``
    (a GanCodec), then ``enhancement`` (a layer of ``f.kind``) applied; CodecError if either is damaged."""
    return enhance(f, base.decode(f.base), enhancement)


def enhance(f: layered_format.LayeredFile, b: np.ndarray, enhancement) -> np.ndarray:
    """``f``'s enhancement layer applied by ``enhancement`` to its decoded base layer ``b`` (uint8
    (H, W, C)); CodecError if the layer is damaged."""
    try:
        return enhancement.decode(f.enhancement, b)
    except CodecError:
        raise
    except Exception as error:  # the entropy decoder or WebP on bytes that are not theirs
        raise CodecError(f"corrupt enhancement layer ({len(f.enhancement)} bytes): {error}") from error


class Decoder:
    """Decodes every file of one model: latent files (by ``base``, a GanCodec), and layered files of
    any kind, the learned ones by the residual coder the file names (among ``coders``)."""

    def __init__(self, base, coders: Sequence[LearnedResidual] = ()):
        self.base, self.coders = base, {c.coder: c for c in coders}
        self.fixed = {"base": BaseOnly(), "webp": WebpResidual(0, base.shape[2])}  # layers without a model

    def decode(self, data: bytes) -> np.ndarray:
        if not layered_format.is_layered(data):
            return self.base.decode(data)
        f = layered_format.unpack(data)
        if f.kind == "lossless":
            return decode_png(f.enhancement, self.base.shape)
        if f.kind == "learned" and f.coder not in self.coders:
            raise CodecError(f"made with residual coder {f.coder.hex()}, which this model does not have "
                             f"(it has {', '.join(c.hex() for c in self.coders) or 'none'})")
        return decode_layers(f, self.base, self.fixed.get(f.kind) or self.coders[f.coder])


def encode_png(image: np.ndarray) -> bytes:
    """uint8 (H, W, C) -> PNG bytes (the lossless fallback), as small as Pillow makes them."""
    return classical.codec("png", None, image.shape[2]).encode(image)


def decode_png(data: bytes, shape: tuple[int, int, int]) -> np.ndarray:
    """PNG bytes of a lossless layered file -> uint8 ``shape``; CodecError unless it is a PNG of that shape."""
    try:
        image = classical.codec("png", None, shape[2]).decode(data)
    except Exception as error:  # noqa: BLE001 - Pillow's errors on bytes that are not a PNG
        raise CodecError(f"corrupt lossless layer ({len(data)} bytes): {params.one_line(error, 200)}") from None
    if image.shape != tuple(shape):
        raise CodecError(f"lossless layer of shape {image.shape}, the model's images are {tuple(shape)}")
    return image


def base_images(base, images: np.ndarray, batch: int = 256, progress: bool = False) -> np.ndarray:
    """The decoded base layer of every image (uint8 (N, H, W, C)), encoded in batches: the
    training inputs of :class:`LearnedResidual`."""
    chunks = range(0, len(images), batch)
    return np.concatenate([base.decode_batch(base.encode_batch(images[i:i + batch]))
                           for i in runtime.progress(chunks, desc="base layers", disable=not progress)])


def check_params(base_bits: int, lambdas: list, webp: list, train_images: int, steps: int, batch_size: int,
                 lr: float, down: int = learned.DOWN) -> None:
    """Validate 04b_residual's parameters (ValueError naming the first bad one)."""
    params.int_range("base_bits", base_bits, 1, 16)
    for lam in lambdas:
        params.positive("lambdas", lam)
    for q in webp:
        params.int_range("webp", q, 0, 100)
    params.int_range("train_images", train_images, 1, 10**7)
    params.steps("steps", steps)
    params.int_range("batch_size", batch_size, 1, 4096)
    params.positive("lr", lr)
    params.int_range("down", down, 1, 4)


def training_subset(images: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` of the training images (all if fewer), drawn without replacement by ``seed``, in index order."""
    pick = np.sort(np.random.default_rng(seed).choice(len(images), min(n, len(images)), replace=False))
    return images[pick]


def train_all(images: np.ndarray, bases: np.ndarray, run: str | Path, lambdas: list, steps: int, batch_size: int,
              lr: float, seed: int, n: int, m: int, down: int, meta: dict, workers: int | None = None
              ) -> tuple[list[LearnedResidual], list[dict], dict]:
    """Train the conditional model (``down`` stride-2 stages) at every λ on (image, base) pairs
    (uint8 (N, H, W, C) each), ``workers`` at a time (:func:`ganlib.models.learned.train_many`), save
    each to :meth:`ganlib.core.paths.RunDir.learned_model` (kind ``conditional``) and ``residual.json``
    (``meta``: the base layer's settings, plus n, m, down and the budget rows). Returns the
    enhancement layers, the budget rows and the per-step train bpp by ``"λ=<lambda>"``."""
    layers, budget, train_bpp = [], [], {}
    jobs = [{"images": images, "bases": bases, "lam": lam, "steps": steps, "batch_size": batch_size, "lr": lr,
             "seed": seed, "n": n, "m": m, "model": "conditional", "down": down} for lam in lambdas]
    for lam, (model, hist) in zip(lambdas, learned.train_many(jobs, workers, "train residual coders")):
        learned.save(paths.RunDir(run).learned_model("conditional", lam), model)
        layers.append(LearnedResidual(model, lam))
        budget.append(learned.budget_row("conditional", lam, steps, batch_size, lr, hist))
        train_bpp[f"λ={lam}"] = hist["bpp"]
    meta = {**meta, "n": n, "m": m, "down": down, "runs": budget}
    files.write_text(paths.RunDir(run).residual_meta, json.dumps(meta, indent=2))
    return layers, budget, train_bpp


FAMILIES = (LearnedResidual.family, WebpResidual.family)
