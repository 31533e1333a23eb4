"""The codec interface every scheme implements (classical, learned, GAN reversal, layered).

A :class:`Codec` turns one uint8 image (H, W, C), C = 1 or 3, into bytes and back; ``name`` and
``param`` say which scheme at which setting. A decoder refuses bytes it cannot read with
:class:`CodecError`, and with nothing else.
"""
from __future__ import annotations

import numpy as np


class CodecError(ValueError):
    """A byte string is not a valid file for this codec (truncated, corrupted, foreign,
    or made for another model)."""


class Codec:
    """One compression scheme: ``encode(image) -> bytes`` and ``decode(bytes) -> image``.

    ``name`` identifies the scheme, ``param`` its quality/size knob (or None);
    ``id`` is the two run together (``jpeg1``, ``kmeans4``, ``gan8``).
    Images are uint8 arrays (H, W, C) with C = 1 or 3.
    """

    name: str = ""
    param: int | None = None
    version: str = ""  # library version that does the coding
    knob: tuple[str, float, float] | None = None  # what ``param`` is and its lowest and highest value, if bounded

    @property
    def id(self) -> str:
        return self.name if self.param is None else f"{self.name}{self.param}"

    def encode(self, image: np.ndarray) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> np.ndarray:
        raise NotImplementedError

    def payload_span(self, data: bytes) -> tuple[int, int]:
        """(start, end) of the entropy-coded payload in a file of this codec; the rest is
        container and headers. Default: the whole file."""
        return 0, len(data)

    def payload_bytes(self, data: bytes) -> int:
        start, end = self.payload_span(data)
        return end - start

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id})"
