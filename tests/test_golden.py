"""Golden latent files: the latent file format and the decoder pinned to committed bytes and pixels.

``tests/golden/`` holds a tiny fixed generator (``generator.safetensors`` + ``generator.json``),
one latent file per case in :data:`CASES` (``<name>.gan``, exact bytes) and the image that file
decodes to (``<name>.npy``, uint8 (28, 28, 1)). Both directions are tested: packing each case's
fixed :class:`codec.LatentFile` gives the committed bytes, and unpacking and decoding the
committed bytes gives the case's symbols and the committed pixels. A change to the format, to
the range coder (a ``constriction`` upgrade) or to the decoder's arithmetic fails here, even
when it is made identically in ``pack`` and ``unpack``.

What each file is, and when it may be regenerated (only with a format version bump, or for the
pixels a deliberate torch upgrade): ``tests/golden/README.md``. To regenerate::

    .venv/bin/python tests/test_golden.py --regenerate          # refuses silent format changes
    .venv/bin/python tests/test_golden.py --regenerate --force  # after a version bump
"""
from __future__ import annotations

import argparse
import binascii
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlib import codec, runtime, train
from ganlib.invert import GanCodec
from ganlib.models import GanConfig, Generator, init_weights

GOLDEN = Path(__file__).resolve().parent / "golden"
FORMAT_VERSION = 1  # the latent file format version these files are written in
FINGERPRINT = bytes.fromhex("456cac6e")  # train.fingerprint of the golden generator
CONFIG = GanConfig(latent_dim=8, width=8, image_size=28, channels=1)
SHAPE = (28, 28, 1)


@dataclass(frozen=True)
class Case:
    name: str
    bits: int
    z_range: float
    symbols: tuple[int, ...]
    mode: str | None  # what pack() is asked for; None: the encoder's own choice (the shorter mode)
    written: str  # the mode the file is in
    why: str

    def latent(self) -> codec.LatentFile:
        return codec.LatentFile(FINGERPRINT, self.bits, SHAPE, self.z_range, np.array(self.symbols, dtype=np.int64))


CASES = [
    Case("b4_raw", 4, 2.5, (0, 15, 12, 1, 7, 10, 0, 10), None, "raw",
         "4 bits, z_range 2.5, symbols far from the prior: the encoder picks raw (4 payload bytes; range coding needs 8)"),
    Case("b4_range", 4, 3.0, (7, 8, 8, 7, 7, 8, 7, 9), "range", "range",
         "4 bits, prior-like symbols, range coding forced (one 32-bit word, a tie with raw, which the encoder would pick)"),
    Case("b8_raw", 8, 3.0, (0, 255, 58, 80, 138, 126, 19, 50), None, "raw",
         "8 bits, symbols at both ends: the encoder picks raw (8 payload bytes; range coding needs 12)"),
    Case("b8_range", 8, 3.0, (113, 166, 144, 102, 127, 160, 10, 122), "range", "range",
         "8 bits, prior-like symbols, range coding forced (two words, a tie with raw)"),
    Case("b9_range", 9, 3.0, (292, 318, 209, 233, 268, 176, 270, 249), None, "range",
         "9 bits, prior-like symbols: the encoder picks range coding (8 payload bytes; raw needs 9)"),
]
IDS = [c.name for c in CASES]


def golden_generator() -> Generator:
    return train.load_generator(GOLDEN)


def decode_directly(G: Generator, latent: codec.LatentFile) -> tuple[np.ndarray, torch.Tensor]:
    """The decoder without GanCodec: dequantize, one generator pass on the CPU, round to uint8.
    Returns (pixels, the generator's float output)."""
    z = torch.from_numpy(codec.dequantize(latent.symbols, latent.bits, latent.z_range))[None]
    with torch.no_grad():
        y = G.cpu().eval()(z)
    return runtime.to_uint8(y)[0], y


# ---------------------------------------------------------------- tests
def test_format_version():
    assert codec.VERSION == FORMAT_VERSION, (
        "the latent file format version changed: regenerate the golden files (tests/golden/README.md) "
        "and set FORMAT_VERSION")


def test_golden_generator_is_the_committed_one():
    G = golden_generator()
    assert G.config == CONFIG
    assert train.fingerprint(G) == FINGERPRINT
    assert json.loads((GOLDEN / train.CONFIG).read_text())["fingerprint"] == FINGERPRINT.hex()


def test_cases_cover_both_modes_and_the_encoders_choice():
    assert {c.written for c in CASES} == {"raw", "range"}
    assert any(c.mode is None and c.written == "range" for c in CASES)  # range coding chosen, not only forced
    assert {c.bits for c in CASES} >= {4, 8}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_packing_gives_the_committed_bytes(case):
    blob = (GOLDEN / f"{case.name}.gan").read_bytes()
    assert codec.pack(case.latent(), case.mode) == blob
    assert codec.pack(case.latent(), case.written) == blob
    assert (blob[1] >> 4) & 1 == codec.MODES.index(case.written)
    raw, ranged = len(codec.pack(case.latent(), "raw")), len(codec.pack(case.latent(), "range"))
    assert len(blob) == (ranged if case.written == "range" else raw)
    if case.mode is None:  # the encoder's choice is strictly the shorter mode
        assert len(blob) < max(raw, ranged)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_committed_bytes_decode_to_the_committed_pixels(case):
    blob = (GOLDEN / f"{case.name}.gan").read_bytes()
    expected = np.load(GOLDEN / f"{case.name}.npy")
    latent = codec.unpack(blob)
    assert latent.symbols.tolist() == list(case.symbols)
    assert (latent.fingerprint, latent.bits, latent.shape, latent.z_range) == (FINGERPRINT, case.bits, SHAPE,
                                                                               case.z_range)
    G = golden_generator()
    direct, y = decode_directly(G, latent)
    differ = direct != expected
    assert not differ.any(), (
        f"{differ.sum()} pixels differ (by at most {np.abs(direct.astype(int) - expected).max()}); the generator "
        f"output there is {((y.clamp(-1, 1) + 1) * 127.5).permute(0, 2, 3, 1)[0].numpy()[differ][:5]}")
    assert np.array_equal(GanCodec(G).decode(blob), expected)


def test_raw_file_layout_by_hand():
    """b4_raw written byte by byte from the format description in ganlib/codec.py."""
    case = CASES[0]
    body = bytes([0xC7, 1 << 5 | 0 << 4 | (4 - 1)]) + FINGERPRINT + bytes([8, 28, 28, 1, round(2.5 * 16)])
    body += bytes([0x0F, 0xC1, 0x7A, 0x0A])  # symbols 0 15 12 1 7 10 0 10, 4 bits each, MSB first
    assert (GOLDEN / f"{case.name}.gan").read_bytes() == body + binascii.crc_hqx(body, 0).to_bytes(2, "big")


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
    """Write the golden files. Without ``force`` it refuses to change a latent file unless the
    format version changed, and refuses to change any decoded pixel."""
    GOLDEN.mkdir(exist_ok=True)
    if new_generator or not (GOLDEN / train.WEIGHTS).exists():
        train.save_generator(GOLDEN, build_generator(),
                             extra={"purpose": "fixed generator of the golden latent files; see README.md"})
    G = golden_generator()
    if train.fingerprint(G) != FINGERPRINT:
        print(f"the golden generator's fingerprint is {train.fingerprint(G).hex()}: set FINGERPRINT", file=sys.stderr)
    outputs = []
    for case in CASES:  # check everything first, so that a refusal leaves every file as it was
        blob = codec.pack(codec.LatentFile(train.fingerprint(G), case.bits, SHAPE, case.z_range,
                                           np.array(case.symbols, dtype=np.int64)), case.mode)
        pixels, y = decode_directly(G, codec.unpack(blob))
        margin = float(((y.clamp(-1, 1) + 1) * 127.5 % 1 - 0.5).abs().min())
        gan, npy = GOLDEN / f"{case.name}.gan", GOLDEN / f"{case.name}.npy"
        if gan.exists() and gan.read_bytes() != blob and gan.read_bytes()[1] >> 5 == codec.VERSION and not force:
            sys.exit(f"{gan.name}: the bytes changed but the format version did not; bump codec.VERSION "
                     "(tests/golden/README.md) or pass --force")
        if npy.exists() and not np.array_equal(np.load(npy), pixels) and not force:
            sys.exit(f"{npy.name}: the decoded pixels changed; pass --force only if that is understood "
                     "(tests/golden/README.md)")
        outputs.append((case, gan, blob, npy, pixels, margin))
    for case, gan, blob, npy, pixels, margin in outputs:
        gan.write_bytes(blob)
        np.save(npy, pixels)
        print(f"{gan.name}: {len(blob)} bytes, {case.written}; {npy.name}: pixels {pixels.min()}..{pixels.max()}, "
              f"closest to a rounding boundary by {margin:.4f}{'  (less than 1e-3: pick other symbols)' if margin < 1e-3 else ''}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="Regenerate the golden latent files in tests/golden/.")
    p.add_argument("--regenerate", action="store_true", required=True)
    p.add_argument("--force", action="store_true", help="overwrite changed bytes or pixels")
    p.add_argument("--new-generator", action="store_true", help="rebuild the golden generator too")
    args = p.parse_args()
    regenerate(args.force, args.new_generator)
