"""GAN reversal as a codec: a latent search, then quantization into a latent file; decoding is one
forward pass of the generator."""
from __future__ import annotations

import numpy as np
import torch

from ganlib.core import paths, runtime
from ganlib.formats import latent_format
from ganlib.formats.interface import Codec, CodecError
from ganlib.inversion.invert import Inversion, InversionConfig, check_bits, frozen, invert, refine
from ganlib.models import prior as priors
from ganlib.models.checkpoints import fingerprint
from ganlib.models.nets import Encoder, Generator


class GanCodec(Codec):
    """GAN reversal as a codec: encode = latent search (:class:`InversionConfig`) + quantization
    and refinement at ``bits`` per dimension into a latent file (see :mod:`ganlib.formats.latent_format`);
    decode = one forward pass of the generator on the CPU, so a file decodes to the same pixels
    wherever it is decoded. Images are uint8 (H, W, C).

    ``prior``: the run's fitted prior (:func:`ganlib.models.prior.load`), with which files are written;
    None: the unit prior N(0, 1). The generator and the prior make the *model* whose fingerprint
    each file carries (``self.model``). Files made with the unit prior of this generator are
    decoded too, so files written before a run had a prior stay readable."""

    name = "gan"
    knob = ("bits per latent dimension", 1, 16)

    def __init__(self, G: Generator, bits: int = 8, config: InversionConfig | None = None,
                 encoder: Encoder | None = None, progress: bool = False,
                 prior: latent_format.LatentModel | None = None):
        config = config if config is not None else InversionConfig()
        check_bits(bits)
        if config.init == "encoder" and encoder is None:
            raise ValueError("init='encoder' needs an encoder (train one with make encoder), or use init='random'")
        self.G = frozen(G, "cpu")
        self.param, self.config, self.encoder, self.progress = bits, config, encoder, progress
        self.fingerprint = fingerprint(self.G)  # the generator's
        self.version = f"torch {torch.__version__}"
        cfg = G.config
        self.shape = (cfg.image_size, cfg.image_size, cfg.channels)
        unit = priors.unit(self.G, config.z_range)
        if prior is not None:
            if (prior.generator_fingerprint, prior.latent_dim, prior.shape) != (self.fingerprint, cfg.latent_dim,
                                                                                self.shape):
                raise ValueError(f"the prior {prior.fingerprint.hex()} belongs to generator "
                                 f"{prior.generator_fingerprint.hex()} (latent_dim {prior.latent_dim}), not to this "
                                 f"one ({self.fingerprint.hex()}, latent_dim {cfg.latent_dim})")
            if prior.z_range != config.z_range:
                raise ValueError(f"z_range={config.z_range!r} is not allowed with this prior; the model's quantizer "
                                 f"range is {prior.z_range} (latent files do not store it)")
        self.unit = unit  # the generator with the unit prior: its files are decoded too
        self.prior = self.model = prior if prior is not None else unit
        self.models = {m.fingerprint: m for m in (self.model, unit)}  # what decode accepts

    def pack(self, symbols: np.ndarray, bits: int | None = None) -> bytes:
        """Latent symbols (latent_dim,) at ``bits`` (default: the codec's) -> file bytes."""
        return latent_format.pack(latent_format.LatentFile(self.model.fingerprint, bits or self.param, self.shape,
                                           self.model.z_range, symbols), self.model)

    def targets(self, images: np.ndarray) -> torch.Tensor:
        """uint8 (B, H, W, C) -> float (B, C, H, W) in [-1, 1], after checking the shape."""
        if images.ndim != 4 or images.shape[1:] != self.shape:
            raise ValueError(f"images must be {self.shape} (H, W, C) for this generator; got {images.shape[1:]}")
        return runtime.to_tensor(images)

    def search(self, images: np.ndarray, snapshot_at: tuple[int, ...] = (), seeds: list[int] | None = None
               ) -> Inversion:
        """The latent search for uint8 images (B, H, W, C), on the GPU when there is one; ``seeds``:
        random starts per image (:func:`start_points`) instead of per batch."""
        return invert(self.G, self.targets(images), self.config, self.encoder, snapshot_at, self.progress,
                      prior=self.model, seeds=seeds)

    def refined_symbols(self, images: np.ndarray, inv: Inversion, bits: int) -> np.ndarray:
        """Quantize the search's latents at ``bits`` with refinement: int64 (B, latent_dim)."""
        if not self.config.refine_steps:
            return latent_format.quantize(inv.z.numpy(), bits, self.config.z_range)
        lr = self.config.refine_lr or latent_format.step(bits, self.config.z_range)
        return refine(self.G, self.targets(images), inv.z, self.config.loss, bits, self.config.z_range,
                      self.config.refine_steps, lr, rate_lambda=self.config.rate_lambda, prior=self.model)[0]

    def encode_depths(self, images: np.ndarray, depths, seeds: list[int] | None = None) -> dict[int, list[bytes]]:
        """uint8 (B, H, W, C) -> {bits: one file per image}, one search shared by every bit depth."""
        inv = self.search(images, seeds=seeds)
        return {b: [self.pack(s, b) for s in self.refined_symbols(images, inv, b)] for b in check_bits(depths)}

    def encode_batch(self, images: np.ndarray, seeds: list[int] | None = None) -> list[bytes]:
        """uint8 (B, H, W, C) -> one latent file per image at the codec's bit depth (``seeds``: random
        starts per image, see :func:`start_points`)."""
        return self.encode_depths(images, self.param, seeds)[self.param]

    def encode(self, image: np.ndarray) -> bytes:
        return self.encode_batch(image[None])[0]

    def payload_span(self, data: bytes) -> tuple[int, int]:
        return latent_format.payload_span(data)

    def check(self, f: latent_format.Header) -> None:
        """Refuse a file header made for another model, i.e. another generator or this generator with
        another prior (called before the payload is decoded)."""
        if f.fingerprint in self.models:
            return
        unit = self.unit.fingerprint.hex()
        if self.model is not self.unit:
            known = f"its prior ({self.model.fingerprint.hex()}) or the unit prior ({unit})"
            hint = ""
        else:
            known = f"the unit prior ({unit})"
            hint = (f"; if it was made with this generator's fitted prior, that prior ({paths.PRIOR} of the run, "
                    "written by make encoder) was not loaded")
        raise CodecError(f"file was made with another generator or prior (model fingerprint "
                               f"{f.fingerprint.hex()}; this decoder has generator {self.fingerprint.hex()} with "
                               f"{known}){hint}")

    def unpack(self, data: bytes, verify: bool = True) -> latent_format.LatentFile:
        """File bytes -> its :class:`ganlib.formats.latent_format.LatentFile`, the header checked against this
        model first."""
        return latent_format.unpack(data, self.models, verify=verify, expect=self.check)

    def decode_batch(self, blobs) -> np.ndarray:
        """Files -> uint8 (N, H, W, C) with one generator pass on the CPU; the same pixels as
        decoding one at a time. :class:`ganlib.formats.interface.CodecError` for any invalid file."""
        latents = [self.unpack(b) for b in blobs]
        z = torch.from_numpy(np.stack([latent_format.dequantize(f.symbols, f.bits, f.z_range) for f in latents]))
        with torch.no_grad():
            return runtime.to_uint8(self.G(z))

    def decode(self, data: bytes, verify: bool = True) -> np.ndarray:
        """File bytes -> uint8 (H, W, C); :class:`ganlib.formats.interface.CodecError` for any invalid file."""
        f = self.unpack(data, verify=verify)
        z = torch.from_numpy(latent_format.dequantize(f.symbols, f.bits, f.z_range))[None]
        with torch.no_grad():
            return runtime.to_uint8(self.G(z))[0]
