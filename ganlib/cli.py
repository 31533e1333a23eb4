"""Command line: compress an image to a GAN-reversal latent file and back.

    python -m ganlib compress IMAGE -o FILE [--run runs/default] [--loss ssim] [--steps N] [--bits B]
    python -m ganlib decompress FILE -o OUT.png [--run runs/default]

``--run`` names a run directory holding a trained generator (``make train`` writes
``runs/<profile>/generator.safetensors``). Input images are converted to what the generator
makes: colour to grayscale (Pillow's ITU-R 601-2 luma) or grayscale to RGB, 16-bit samples
scaled to 8 bits, alpha dropped; an image of another size is refused unless ``--resize``
is given (centre crop to a square, then Lanczos resize). The decompressed PNG is exactly the
image the report scores for that file.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from . import codec, data, files, metrics, paths, runtime
from .invert import LOSSES, GanCodec, InversionConfig
from .train import load_generator


def read_image(path: Path, size: int, channels: int, resize: bool) -> np.ndarray:
    """Read an image file as uint8 (size, size, channels), converting as the module docstring says."""
    try:
        im = Image.open(path)
        im.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read {path} as an image ({exc})") from None
    if im.mode.startswith("I;16") or im.mode == "I":
        raw = np.asarray(im, dtype=np.float64)
        im = Image.fromarray(np.clip(np.round(raw * 255 / 65535), 0, 255).astype(np.uint8), "L")
    elif im.mode == "F":
        raise ValueError(f"{path}: floating-point images (mode F) are not supported; give an 8- or 16-bit image")
    elif im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    if im.size != (size, size) and not resize:
        raise ValueError(f"{path} is {im.size[0]}x{im.size[1]} pixels; this generator makes {size}x{size}. "
                         "Pass --resize to centre-crop and resize it.")
    return data.prepare(im, size, channels)


DEFAULTS = InversionConfig()


def default_run() -> str:
    return str(paths.work_dir() / "runs" / "default")


def compress(args) -> int:
    G = load_generator(args.run)
    cfg = G.config
    image = read_image(Path(args.image), cfg.image_size, cfg.channels, args.resize)
    runtime.setup(args.seed)
    config = InversionConfig(loss=args.loss, steps=args.steps, lr=args.lr, z_range=args.z_range,
                             restarts=args.restarts, refine_steps=args.refine_steps, seed=args.seed)
    gan = GanCodec(G, args.bits, config, progress=True)
    blob = gan.encode(image)
    files.write_bytes(args.output, blob)
    decoded = gan.decode(Path(args.output).read_bytes())
    print(f"wrote {args.output}: {len(blob)} bytes ({metrics.bpp(len(blob), image.shape):.3f} bpp), "
          f"SSIM {metrics.ssim(image, decoded):.4f}, PSNR {metrics.psnr(image, decoded):.2f} dB", file=sys.stderr)
    return 0


def decompress(args) -> int:
    runtime.setup(0)
    gan = GanCodec(load_generator(args.run))
    image = gan.decode(Path(args.file).read_bytes())
    with files.atomic_path(args.output) as tmp:
        Image.fromarray(image[..., 0] if image.shape[2] == 1 else image).save(tmp, format="PNG")
    print(f"wrote {args.output}: {image.shape[1]}x{image.shape[0]}x{image.shape[2]}", file=sys.stderr)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ganlib", description="GAN-reversal image codec.",
                                epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compress", help="image -> latent file")
    c.add_argument("image", help="PNG/JPEG/... image to compress")
    c.add_argument("-o", "--output", required=True, help="latent file to write")
    c.add_argument("--run", default=default_run(), help="run directory with the generator (default: %(default)s)")
    c.add_argument("--loss", default=DEFAULTS.loss, choices=LOSSES, help="what the latent search minimises (default: %(default)s)")
    c.add_argument("--steps", type=int, default=DEFAULTS.steps, help="Adam steps of the latent search (default: %(default)s)")
    c.add_argument("--bits", type=int, default=8, help="bits per latent dimension, 1..16 (default: %(default)s)")
    c.add_argument("--lr", type=float, default=DEFAULTS.lr, help="initial learning rate (default: %(default)s)")
    c.add_argument("--restarts", type=int, default=DEFAULTS.restarts, help="random starts (default: %(default)s)")
    c.add_argument("--refine-steps", type=int, default=DEFAULTS.refine_steps, help="quantization-aware refinement steps (default: %(default)s)")
    c.add_argument("--z-range", type=float, default=DEFAULTS.z_range, help="quantizer range, multiple of 1/16 (default: %(default)s)")
    c.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of the random starts (default: %(default)s)")
    c.add_argument("--resize", action="store_true", help="centre-crop and resize images of another size")
    c.set_defaults(func=compress)
    d = sub.add_parser("decompress", help="latent file -> PNG")
    d.add_argument("file", help="latent file written by compress")
    d.add_argument("-o", "--output", required=True, help="PNG to write")
    d.add_argument("--run", default=default_run(), help="run directory with the generator (default: %(default)s)")
    d.set_defaults(func=decompress)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except codec.CodecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
