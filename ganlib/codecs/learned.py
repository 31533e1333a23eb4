"""The learned codecs (CompressAI's factorized prior and scale hyperprior) behind the codec interface:
the file is the model's real ``compress()`` byte string (the networks and their training:
:mod:`ganlib.models.learned`)."""
from __future__ import annotations

import numpy as np
import torch

from ganlib.core import runtime
from ganlib.formats.interface import Codec
from ganlib.models import learned

SIDE_MAX = 65535  # bytes of side information a hyperprior file can hold
BATCH = 256  # images per network pass of encode_batch and decode_batch


class Learned(Codec):
    """A trained model as a codec, named after its family (``factorized``, ``hyperprior``, or with
    ``_ssim`` when trained for SSIM: :func:`ganlib.models.learned.family_id`). The file is
    the entropy coder's byte string; the hyperprior's holds the side information first, after
    its length: one byte below 255, else the byte 255 and two bytes big-endian (up to 65,535).
    The latent shape follows from the image size the model is built for."""

    version = f"CompressAI {learned.COMPRESSAI_VERSION}"

    def __init__(self, model: learned.CompressionModel, param, shape: tuple[int, int, int], distortion: str = "mse"):
        self.model, self.param, self.shape = model.cpu().eval(), param, shape
        self.kind = learned.kind(model)
        self.name = learned.family_id(self.kind, distortion)
        self.multiple = learned.multiple(self.kind, model.down)

    def _latent_shape(self) -> tuple[int, int]:
        """Spatial shape of the latent the decoder starts from: y (factorized) or z (hyperprior)."""
        return tuple(-(-s // self.multiple) for s in self.shape[:2])

    def encode(self, image: np.ndarray) -> bytes:
        return self.encode_batch(image[None])[0]

    def encode_batch(self, images: np.ndarray) -> list[bytes]:
        """The files of uint8 ``images`` (N, H, W, C), :data:`BATCH` images per network pass; each
        file is what :meth:`encode` of that image alone would write, up to the network's rounding."""
        if images.shape[1:] != self.shape:
            raise ValueError(f"images must be {self.shape}; got {images.shape[1:]}")
        out = []
        for start in range(0, len(images), BATCH):
            with torch.no_grad():
                x = learned.pad(learned.to_unit(images[start:start + BATCH]), self.multiple)
                strings = self.model.compress(x)["strings"]
            out += [self._file(*s) for s in zip(*strings)]
        return out

    def _file(self, y: bytes, z: bytes | None = None) -> bytes:
        if self.kind == "factorized":
            return y
        if len(z) > SIDE_MAX:
            raise ValueError(f"side information of {len(z)} bytes does not fit this format (at most {SIDE_MAX})")
        return (bytes([len(z)]) if len(z) < 255 else bytes([255]) + len(z).to_bytes(2, "big")) + z + y

    def _side(self, data: bytes) -> tuple[int, int]:
        """The hyperprior file's (header length, side information length); ValueError if truncated."""
        if not data or (data[0] == 255 and len(data) < 3):
            raise ValueError("truncated hyperprior file")
        head, side = (1, data[0]) if data[0] < 255 else (3, int.from_bytes(data[1:3], "big"))
        if head + side > len(data):
            raise ValueError("truncated hyperprior file")
        return head, side

    def _strings(self, data: bytes) -> list[list[bytes]]:
        data = bytes(data)
        if self.kind == "factorized":
            return [[data]]
        head, side = self._side(data)
        return [[data[head + side:]], [data[head:head + side]]]

    def decode(self, data: bytes) -> np.ndarray:
        return self.decode_batch([data])[0]

    def decode_batch(self, blobs) -> np.ndarray:
        """The images (uint8 (N, H, W, C)) of files ``blobs``, :data:`BATCH` per network pass."""
        out = []
        for start in range(0, len(blobs), BATCH):
            parts = [self._strings(b) for b in blobs[start:start + BATCH]]
            strings = [[p[k][0] for p in parts] for k in range(len(parts[0]))]
            with torch.no_grad():
                x = self.model.decompress(strings, self._latent_shape())["x_hat"]
            out.append(runtime.to_uint8(learned.crop(x, *self.shape[:2]) * 2 - 1))
        return np.concatenate(out) if out else np.zeros((0, *self.shape), np.uint8)

    def payload_span(self, data: bytes) -> tuple[int, int]:
        """All entropy-coded bytes; the hyperprior's length bytes are header."""
        return (0 if self.kind == "factorized" else self._side(bytes(data))[0]), len(data)
