"""Golden latent files: the latent file format and the decoder pinned to committed bytes and pixels.

``tests/golden/`` holds a tiny fixed generator (``generator.safetensors`` + ``generator.json``),
a tiny fixed prior beside it (``prior.json``, numbers chosen by hand), one latent file per case
in :data:`CASES` (``<name>.gan``, exact bytes) and the image that file decodes to (``<name>.npy``,
uint8 (28, 28, 1)), and one file of the previous format version (``v1_b8_raw.gan``), which must be
refused naming both versions. Both directions are tested: packing each case's fixed
:class:`latent_format.LatentFile` gives the committed bytes, and unpacking and decoding the committed
bytes gives the case's symbols and the committed pixels. A change to the format, to the range
coder (a ``constriction`` upgrade) or to the decoder's arithmetic fails here, even when it is
made identically in ``pack`` and ``unpack``.

What each file is, and when it may be regenerated (only with a format version bump, or for the
pixels a deliberate torch upgrade): ``tests/golden/README.md``. To regenerate::

    .venv/bin/python tests/system/test_golden.py --regenerate          # refuses silent format changes
    .venv/bin/python tests/system/test_golden.py --regenerate --force  # after a version bump
"""
from __future__ import annotations

import argparse
import binascii
import hashlib
import json
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlib.codecs.gan import GanCodec
from ganlib.core import paths, runtime
from ganlib.formats import latent_format
from ganlib.models import checkpoints, prior
from ganlib.models.nets import GanConfig, Generator, init_weights

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
FORMAT_VERSION = 2  # the latent file format version these files are written in
FINGERPRINT = bytes.fromhex("456cac6e")  # checkpoints.fingerprint of the golden generator
MODEL_FINGERPRINT = bytes.fromhex("6cf331ad")  # the golden generator with the golden prior
UNIT_FINGERPRINT = bytes.fromhex("f4476583")  # the golden generator with the unit prior
CONFIG = GanConfig(latent_dim=8, width=8, image_size=28, channels=1)
SHAPE = (28, 28, 1)
PRIOR_MEAN = (0.25, -0.5, 0.0, 0.125, -0.25, 0.5, 0.0625, -0.125)  # the golden prior, chosen by hand
PRIOR_STD = (0.75, 1.25, 0.5, 1.0, 0.625, 0.875, 1.5, 0.6875)
V1_FILE = "v1_b8_raw.gan"  # written by format version 1 (8 bits, raw, symbols 0 255 58 80 138 126 19 50)


@dataclass(frozen=True)
class Case:
    name: str
    bits: int
    symbols: tuple[int, ...]
    written: str  # the mode the encoder (pack with mode=None) writes
    prior: str  # "golden" (prior.json) or "unit"
    why: str
    pixels: bool = True  # its .npy is checked (False: the decoded image is too close to a rounding boundary)

    @property
    def fingerprint(self) -> bytes:
        return MODEL_FINGERPRINT if self.prior == "golden" else UNIT_FINGERPRINT

    def latent(self) -> latent_format.LatentFile:
        return latent_format.LatentFile(self.fingerprint, self.bits, SHAPE, 3.0, np.array(self.symbols, dtype=np.int64))


CASES = [
    Case("b4_raw", 4, (0, 15, 12, 1, 7, 10, 0, 10), "raw", "golden",
         "4 bits, symbols far from the prior: range coding ties with raw (4 payload bytes), so raw"),
    Case("b4_range", 4, (8, 6, 8, 8, 6, 10, 13, 9), "range", "golden",
         "4 bits, prior-like symbols: range coding (3 payload bytes; raw needs 4)"),
    Case("b8_raw", 8, (16, 26, 15, 254, 10, 249, 243, 246), "raw", "golden",
         "8 bits, symbols near both ends: raw (8 payload bytes; range coding needs more)"),
    Case("b8_range", 8, (142, 99, 141, 137, 103, 162, 214, 150), "range", "golden",
         "8 bits, prior-like symbols: range coding (7 payload bytes; raw needs 8)"),
    Case("b9_range", 9, (285, 199, 283, 275, 206, 325, 428, 300), "range", "golden",
         "9 bits, prior-like symbols: range coding (8 payload bytes; raw needs 9)"),
    Case("b16_range", 16, (37423, 40219, 28694, 36443, 30461, 51785, 35452, 32385), "range", "golden",
         "16 bits, prior-like symbols: range coding (15 payload bytes; raw needs 16)"),
    Case("b6_unit", 6, (33, 30, 38, 33, 26, 35, 45, 42), "range", "unit",
         "6 bits under the unit prior N(0, 1) (a run without prior.json): range coding (5 payload bytes; raw 6)"),
    Case("b1_empty", 1, (0, 0, 0, 0, 0, 0, 0, 0), "range", "golden",
         "1 bit, every symbol 0: the range-coded payload is empty (zero bytes decode to it); 7-byte file. "
         "Its image comes within 0.0002 grey levels of a rounding boundary, so only its bytes and symbols "
         "are pinned", pixels=False),
]
IDS = [c.name for c in CASES]


def golden_generator() -> Generator:
    return checkpoints.load_generator(GOLDEN)


def golden_codec() -> GanCodec:
    """The decoder of the golden files: the golden generator with the golden prior (it also reads
    the unit prior's files)."""
    G = golden_generator()
    return GanCodec(G, prior=prior.load(GOLDEN, G))


def decode_directly(G: Generator, latent: latent_format.LatentFile) -> tuple[np.ndarray, torch.Tensor]:
    """The decoder without GanCodec: dequantize, one generator pass on the CPU, round to uint8.
    Returns (pixels, the generator's float output)."""
    z = torch.from_numpy(latent_format.dequantize(latent.symbols, latent.bits, latent.z_range))[None]
    with torch.no_grad():
        y = G.cpu().eval()(z)
    return runtime.to_uint8(y)[0], y


# ---------------------------------------------------------------- tests
def test_format_version():
    assert latent_format.VERSION == FORMAT_VERSION, (
        "the latent file format version changed: regenerate the golden files (tests/golden/README.md) "
        "and set FORMAT_VERSION")


def test_golden_generator_is_the_committed_one():
    G = golden_generator()
    assert G.config == CONFIG
    assert checkpoints.fingerprint(G) == FINGERPRINT
    assert json.loads(paths.RunDir(GOLDEN).generator_config.read_text())["fingerprint"] == FINGERPRINT.hex()


def test_golden_prior_is_the_committed_one():
    G = golden_generator()
    model = prior.load(GOLDEN, G)
    assert (model.mean.tolist(), model.std.tolist()) == (list(PRIOR_MEAN), list(PRIOR_STD))
    assert model.fingerprint == MODEL_FINGERPRINT and prior.unit(G).fingerprint == UNIT_FINGERPRINT


def test_model_fingerprint_by_hand():
    """The model fingerprint from the format description in docs/formats.md."""
    def by_hand(mean, std):
        text = (b"ganlib latent model v2" + FINGERPRINT + bytes([0, 8, 0, 28, 0, 28, 1, 48]) + b"gaussian"
                + struct.pack(">16d", *mean, *std))
        return hashlib.sha256(text).digest()[:4]
    assert by_hand(PRIOR_MEAN, PRIOR_STD) == MODEL_FINGERPRINT
    assert by_hand([0.0] * 8, [1.0] * 8) == UNIT_FINGERPRINT


def test_cases_cover_both_modes_both_priors_and_the_edges():
    assert {c.written for c in CASES} == {"raw", "range"} and {c.prior for c in CASES} == {"golden", "unit"}
    assert {c.bits for c in CASES} >= {1, 4, 8, 16}
    assert min(len((GOLDEN / f"{c.name}.gan").read_bytes()) for c in CASES) == 7  # an empty payload


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_packing_gives_the_committed_bytes(case):
    models = golden_codec().models
    blob = (GOLDEN / f"{case.name}.gan").read_bytes()
    assert latent_format.pack(case.latent(), models) == blob
    assert blob[0] >> 5 == FORMAT_VERSION and (blob[0] >> 4) & 1 == latent_format.MODES.index(case.written)
    assert blob[1:5] == case.fingerprint
    raw = latent_format.pack(case.latent(), models, "raw")
    assert len(raw) == 7 + -(-8 * case.bits // 8)
    assert (blob == raw) if case.written == "raw" else (len(blob) < len(raw))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_committed_bytes_decode_to_the_committed_pixels(case):
    gan = golden_codec()
    blob = (GOLDEN / f"{case.name}.gan").read_bytes()
    expected = np.load(GOLDEN / f"{case.name}.npy")
    latent = gan.unpack(blob)
    assert latent.symbols.tolist() == list(case.symbols)
    assert (latent.fingerprint, latent.bits, latent.shape, latent.z_range) == (case.fingerprint, case.bits, SHAPE, 3.0)
    if not case.pixels:
        return
    direct, y = decode_directly(golden_generator(), latent)
    differ = direct != expected
    assert not differ.any(), (
        f"{differ.sum()} pixels differ (by at most {np.abs(direct.astype(int) - expected).max()}); the generator "
        f"output there is {((y.clamp(-1, 1) + 1) * 127.5).permute(0, 2, 3, 1)[0].numpy()[differ][:5]}")
    assert np.array_equal(gan.decode(blob), expected)


def test_raw_file_layout_by_hand():
    """b4_raw written byte by byte from the format description in docs/formats.md."""
    body = bytes([2 << 5 | 0 << 4 | (4 - 1)]) + MODEL_FINGERPRINT
    body += bytes([0x0F, 0xC1, 0x7A, 0x0A])  # symbols 0 15 12 1 7 10 0 10, 4 bits each, MSB first
    assert (GOLDEN / "b4_raw.gan").read_bytes() == body + binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "big")


@pytest.mark.parametrize("name", ["b8_range", "b16_range", "b6_unit"])
def test_range_payload_by_hand(name):
    """A range-coded payload from the format description, with constriction directly: the scale
    index under Uniform(8), then each dimension under QuantizedGaussian(0, L - 1) with the
    documented mean and standard deviation, 32-bit words big-endian, cut to a prefix (its last
    byte possibly rounded up) that decodes after zero padding."""
    import constriction

    cs = constriction.stream
    case = next(c for c in CASES if c.name == name)
    blob = (GOLDEN / f"{name}.gan").read_bytes()
    payload = blob[5:-2]
    assert blob[-2:] == binascii.crc_hqx(blob[:-2], 0xFFFF).to_bytes(2, "big")
    mean, std = (np.array(PRIOR_MEAN), np.array(PRIOR_STD)) if case.prior == "golden" else (np.zeros(8), np.ones(8))
    d = 6.0 / (1 << case.bits)
    padded = np.frombuffer(payload + bytes(-len(payload) % 4 + 8), ">u4").astype(np.uint32)
    decoder = cs.queue.RangeDecoder(padded)
    k = int(decoder.decode(cs.model.Uniform(8), 1)[0])
    model = cs.model.QuantizedGaussian(0, (1 << case.bits) - 1)
    scale = latent_format.SCALES[k] * std / d
    assert decoder.decode(model, (mean + 3.0) / d - 0.5, scale).tolist() == list(case.symbols)
    encoder = cs.queue.RangeEncoder()
    encoder.encode(np.array([k], np.int32), cs.model.Uniform(8))
    encoder.encode(np.array(case.symbols, np.int32), model, (mean + 3.0) / d - 0.5, latent_format.SCALES[k] * std / d)
    full = encoder.get_compressed().astype(">u4").tobytes()
    n = len(payload)
    assert n < len(full) and payload in (full[:n], (int.from_bytes(full[:n], "big") + 1).to_bytes(n, "big"))


def test_version_1_file_is_refused_naming_both_versions():
    blob = (GOLDEN / V1_FILE).read_bytes()
    assert blob[0] == 0xC7 and blob[1] >> 5 == 1 and len(blob) == 21  # version 1: magic, version 1, 13 + 8 bytes
    with pytest.raises(latent_format.CodecError, match=r"^version 1 file; this decoder reads version 2"):
        golden_codec().decode(blob)
    with pytest.raises(latent_format.CodecError, match=r"^version 1 file; this decoder reads version 2"):
        latent_format.read_header(blob)


# ---------------------------------------------------------------- regeneration
def build_generator() -> Generator:
    """How the golden generator was made (once; the committed weights are what the tests use):
    DCGAN initialisation with torch seed 0, batch-norm statistics accumulated over 4 batches of
    64 N(0, 1) latents, and the last layer's weights scaled by 8 so that its images span the
    0..255 range instead of staying near mid-grey."""
    torch.manual_seed(0)
    G = Generator(CONFIG)
    G.apply(init_weights)
    norms = [m for m in G.modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    for m in norms:
        m.momentum = None  # cumulative average
    G.train()
    with torch.no_grad():
        for _ in range(4):
            G(torch.randn(64, CONFIG.latent_dim))
        G.body[-2].weight.mul_(8.0)
    for m in norms:
        m.momentum = 0.1
    return G.eval()


def regenerate(force: bool = False, new_generator: bool = False) -> None:
    """Write the golden files (the prior too if missing). Without ``force`` it refuses to change a
    latent file unless the format version changed, and refuses to change any decoded pixel. The
    version-1 file is never rewritten."""
    GOLDEN.mkdir(exist_ok=True)
    if new_generator or not paths.RunDir(GOLDEN).generator.exists():
        checkpoints.save_generator(GOLDEN, build_generator(),
                             extra={"purpose": "fixed generator of the golden latent files; see README.md"})
    G = golden_generator()
    if checkpoints.fingerprint(G) != FINGERPRINT:
        print(f"the golden generator's fingerprint is {checkpoints.fingerprint(G).hex()}: set FINGERPRINT",
              file=sys.stderr)
    if new_generator or not paths.RunDir(GOLDEN).prior.exists():
        model = latent_format.LatentModel.create(checkpoints.fingerprint(G), SHAPE, 3.0, PRIOR_MEAN, PRIOR_STD)
        prior.save(GOLDEN, model, {"purpose": "fixed prior of the golden latent files, numbers chosen by hand; "
                                              "see README.md"})
    gan = GanCodec(G, prior=prior.load(GOLDEN, G))
    models = {"golden": gan.model, "unit": prior.unit(G)}
    for name, model in models.items():
        wanted = MODEL_FINGERPRINT if name == "golden" else UNIT_FINGERPRINT
        if model.fingerprint != wanted:
            print(f"the {name} model's fingerprint is {model.fingerprint.hex()}: set it in the test", file=sys.stderr)
    outputs = []
    for case in CASES:  # check everything first, so that a refusal leaves every file as it was
        model = models[case.prior]
        blob = latent_format.pack(latent_format.LatentFile(model.fingerprint, case.bits, SHAPE, 3.0,
                                           np.array(case.symbols, dtype=np.int64)), model)
        written = latent_format.MODES[blob[0] >> 4 & 1]
        if written != case.written:
            sys.exit(f"{case.name}: the encoder writes {written}, the case says {case.written}; pick other symbols")
        pixels, y = decode_directly(G, gan.unpack(blob))
        margin = float(((y.clamp(-1, 1) + 1) * 127.5 % 1 - 0.5).abs().min()) if case.pixels else float("nan")
        gan_file, npy = GOLDEN / f"{case.name}.gan", GOLDEN / f"{case.name}.npy"
        old = gan_file.read_bytes() if gan_file.exists() else None
        if old is not None and old != blob and old[0] >> 5 == latent_format.VERSION and not force:
            sys.exit(f"{gan_file.name}: the bytes changed but the format version did not; bump latent_format.VERSION "
                     "(tests/golden/README.md) or pass --force")
        if case.pixels and npy.exists() and not np.array_equal(np.load(npy), pixels) and not force:
            sys.exit(f"{npy.name}: the decoded pixels changed; pass --force only if that is understood "
                     "(tests/golden/README.md)")
        outputs.append((case, gan_file, blob, npy, pixels, margin))
    for case, gan_file, blob, npy, pixels, margin in outputs:
        gan_file.write_bytes(blob)
        np.save(npy, pixels)
        print(f"{gan_file.name}: {len(blob)} bytes, {case.written}; {npy.name}: pixels {pixels.min()}..{pixels.max()}, "
              f"closest to a rounding boundary by {margin:.4f}"
              f"{'  (less than 1e-3: pick other symbols)' if margin < 1e-3 else ''}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="Regenerate the golden latent files in tests/golden/.")
    p.add_argument("--regenerate", action="store_true", required=True)
    p.add_argument("--force", action="store_true", help="overwrite changed bytes or pixels")
    p.add_argument("--new-generator", action="store_true", help="rebuild the golden generator and prior too")
    args = p.parse_args()
    regenerate(args.force, args.new_generator)
