"""Classical baselines behind the :class:`ganlib.formats.interface.Codec` interface.

Every ``encode`` returns the bytes of a real file (PNG, JPEG, WebP, JPEG 2000 codestream,
AVIF) that ``decode`` reads back; byte counts are ``len(encode(image))``. ``payload_span``
locates the entropy-coded data inside the file (the rest is container and headers).
Images are uint8 (H, W, C).
"""
from __future__ import annotations

import io

import numpy as np
import PIL
from PIL import Image, features

from ganlib.core import params
from ganlib.data.datasets import to_hwc
from ganlib.formats.interface import Codec


def _to_pil(image: np.ndarray) -> Image.Image:
    if image.ndim != 3 or image.shape[2] not in (1, 3) or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (H, W, 1 or 3); got {image.dtype} {image.shape}")
    return Image.fromarray(image[..., 0] if image.shape[2] == 1 else image, "L" if image.shape[2] == 1 else "RGB")


def _from_pil(image: Image.Image, channels: int) -> np.ndarray:
    """Decoded PIL image -> uint8 (H, W, channels). Formats without a gray mode (WebP)
    decode gray images as RGB; they are converted back with Pillow's luma transform."""
    image = image.convert("L" if channels == 1 else "RGB")
    return to_hwc(np.asarray(image, dtype=np.uint8)[None])[0]


LIBRARIES = {"zlib": "zlib", "libjpeg_turbo": "libjpeg-turbo", "webp": "libwebp", "jpg_2000": "OpenJPEG",
             "avif": "libavif"}  # Pillow feature -> the library that does the coding


def library_version(feature: str) -> str:
    """E.g. ``libwebp 1.6.0 via Pillow 13.0.0``."""
    return f"{LIBRARIES[feature]} {features.version(feature)} via Pillow {PIL.__version__}"


class PillowCodec(Codec):
    """A still-image format written and read by Pillow with fixed save options.
    ``channels`` (1 or 3) is the channel count ``decode`` returns."""

    format = ""
    feature = ""  # the Pillow feature (a key of LIBRARIES) that does the coding
    knob: tuple[str, int, int] | None = None  # (what the parameter is, lowest, highest); None: no parameter

    @property
    def version(self) -> str:
        return library_version(self.feature)

    def __init__(self, param: int | None = None, channels: int = 1):
        self.param, self.channels = param, channels

    def save_options(self) -> dict:
        return {}

    def encode(self, image: np.ndarray) -> bytes:
        buf = io.BytesIO()
        _to_pil(image).save(buf, format=self.format, **self.save_options())
        return buf.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as im:
            return _from_pil(im, self.channels)


def _png_idat_span(data: bytes) -> tuple[int, int]:
    """From the first IDAT chunk's data to the end of the last IDAT's data."""
    first = data.find(b"IDAT")
    last = data.rfind(b"IDAT")
    if first < 0:
        raise ValueError("no IDAT chunk: not a PNG")
    return first + 4, last + 4 + int.from_bytes(data[last - 4:last], "big")


class PNG(PillowCodec):
    """Lossless PNG at maximum deflate effort."""

    name, format, feature = "png", "PNG", "zlib"

    def save_options(self) -> dict:
        return {"optimize": True}

    def payload_span(self, data: bytes) -> tuple[int, int]:
        return _png_idat_span(data)


class JPEG(PillowCodec):
    """Baseline JPEG (libjpeg via Pillow), quality 1..95, optimized Huffman tables."""

    name, format, feature = "jpeg", "JPEG", "libjpeg_turbo"
    knob = ("quality", 1, 95)

    def save_options(self) -> dict:
        return {"quality": self.param, "optimize": True}

    def payload_span(self, data: bytes) -> tuple[int, int]:
        """After the SOS segment header up to the EOI marker."""
        sos = data.find(b"\xff\xda")
        if sos < 0:
            raise ValueError("no SOS marker: not a baseline JPEG")
        return sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big"), len(data) - 2


class WebP(PillowCodec):
    """Lossy WebP (libwebp via Pillow), quality 0..100, slowest/best method."""

    name, format, feature = "webp", "WEBP", "webp"
    knob = ("quality", 0, 100)

    def save_options(self) -> dict:
        return {"quality": self.param, "method": 6}

    def payload_span(self, data: bytes) -> tuple[int, int]:
        """The VP8 bitstream after its 10-byte frame header."""
        chunk = data.find(b"VP8 ")
        if chunk < 0:
            raise ValueError("no 'VP8 ' chunk: not a lossy WebP")
        return chunk + 8 + 10, len(data)


class JPEG2000(PillowCodec):
    """JPEG 2000 codestream (OpenJPEG via Pillow), irreversible wavelet, one quality layer with
    target PSNR ``param`` dB, 3 resolution levels (small images)."""

    name, format, feature = "j2k", "JPEG2000", "jpg_2000"
    knob = ("target PSNR in dB", 10, 60)

    def save_options(self) -> dict:
        return {"irreversible": True, "quality_mode": "dB", "quality_layers": [self.param], "no_jp2": True,
                "num_resolutions": 3}

    def payload_span(self, data: bytes) -> tuple[int, int]:
        """After the first start-of-data marker up to the end-of-codestream marker."""
        sod = data.find(b"\xff\x93")
        if sod < 0:
            raise ValueError("no SOD marker: not a JPEG 2000 codestream")
        return sod + 2, len(data) - 2


class AVIF(PillowCodec):
    """AVIF (libavif via Pillow), quality 0..100, at an encoder ``speed`` 0 (slowest, best) to 10,
    by default libavif's own (:data:`SPEED`)."""

    name, format, feature = "avif", "AVIF", "avif"
    knob = ("quality", 0, 100)
    SPEED = 6  # libavif's default; why the chain does not use 0: docs/results.md, AVIF

    def __init__(self, param: int | None = None, channels: int = 1, speed: int = SPEED):
        params.int_range("speed", speed, 0, 10)
        super().__init__(param, channels)
        self.speed = speed

    def save_options(self) -> dict:
        return {"quality": self.param, "speed": self.speed}

    def payload_span(self, data: bytes) -> tuple[int, int]:
        """The data of the ``mdat`` box (the AV1 bitstream)."""
        box = data.find(b"mdat")
        if box < 4:
            raise ValueError("no mdat box: not an AVIF file")
        return box + 4, box - 4 + int.from_bytes(data[box - 4:box], "big")


class KMeans(Codec):
    """K-means colour quantization stored as a palette PNG: the palette (K colours) and the
    index map (ceil(log2 K) bits per pixel, deflated) are in the file; decode looks indices up."""

    name = "kmeans"
    knob = ("K", 2, 256)
    version = f"NumPy {np.__version__} (k-means), {library_version('zlib')} (palette PNG)"

    def __init__(self, k: int, channels: int = 1, iterations: int = 30):
        if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= 256:
            raise ValueError(f"k={k!r} is not allowed; it must be an integer from 2 to 256")
        self.param, self.channels, self.iterations = k, channels, iterations

    def cluster(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lloyd's algorithm from k-means++-style deterministic seeds (quantiles of
        brightness). pixels (N, C) float -> (centres (K, C) uint8, labels (N,))."""
        k = min(self.param, len(np.unique(pixels, axis=0)))
        order = np.argsort(pixels.sum(1), kind="stable")
        centres = pixels[order[np.linspace(0, len(pixels) - 1, k).round().astype(int)]].astype(np.float64)
        for _ in range(self.iterations):
            labels = ((pixels[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
            counts = np.bincount(labels, minlength=k)[:, None]  # each cluster's mean, or its centre when empty
            sums = np.stack([np.bincount(labels, pixels[:, c], minlength=k) for c in range(pixels.shape[1])], 1)
            new = np.where(counts > 0, sums / np.maximum(counts, 1), centres)
            if np.allclose(new, centres):
                break
            centres = new
        centres = np.clip(np.round(centres), 0, 255).astype(np.uint8)
        labels = ((pixels[:, None, :] - centres[None].astype(np.float64)) ** 2).sum(-1).argmin(1)
        return centres, labels

    def encode(self, image: np.ndarray) -> bytes:
        _to_pil(image)  # validates the shape
        h, w, c = image.shape
        centres, labels = self.cluster(image.reshape(-1, c).astype(np.float64))
        palette = np.repeat(centres, 3, axis=1) if c == 1 else centres
        im = Image.fromarray(labels.reshape(h, w).astype(np.uint8), "P")
        im.putpalette(palette.reshape(-1).tolist(), rawmode="RGB")
        buf = io.BytesIO()
        bits = max(1, int(np.ceil(np.log2(max(2, len(centres))))))
        im.save(buf, format="PNG", optimize=True, bits=bits)
        return buf.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
        return rgb[..., :1] if self.channels == 1 else rgb  # gray palettes have R = G = B

    def payload_span(self, data: bytes) -> tuple[int, int]:
        """The index map (IDAT); the palette (PLTE) counts as header."""
        return _png_idat_span(data)


CODECS = {"png": PNG, "jpeg": JPEG, "webp": WebP, "j2k": JPEG2000, "avif": AVIF, "kmeans": KMeans}
# the knob each codec takes and its allowed range: (what, lowest, highest), from the codec classes
PARAMS = {name: cls.knob for name, cls in CODECS.items() if cls.knob}


def sweep(settings: dict[str, list]) -> list[tuple[str, int | None]]:
    """PNG, then every (codec, parameter) of ``settings`` (codec -> list of parameters) in the
    order given, each checked (ValueError naming the first value out of range)."""
    unknown = [name for name in settings if name not in PARAMS]
    if unknown:
        raise ValueError(f"codec={unknown[0]!r} is not allowed; choose one of: {', '.join(PARAMS)}")
    out = [("png", None)] + [(name, p) for name, values in settings.items() for p in values]
    for name, p in out:
        codec(name, p)
    return out


def codec(name: str, param: int | None = None, channels: int = 1) -> Codec:
    """A baseline codec by name and parameter, e.g. ``codec("jpeg", 10)``."""
    if name not in CODECS:
        raise ValueError(f"codec={name!r} is not allowed; choose one of: {', '.join(CODECS)}")
    if name == "png":
        if param is not None:
            raise ValueError("png takes no parameter")
    else:
        what, low, high = PARAMS[name]
        if isinstance(param, bool) or not isinstance(param, int) or not low <= param <= high:
            raise ValueError(f"{name} parameter={param!r} is not allowed; its {what} must be an integer "
                             f"from {low} to {high}")
    return CODECS[name](param, channels=channels)
