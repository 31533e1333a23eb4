"""Encode and decode speed of every codec and GAN-reversal mode on this machine, on a finished
run's unseen images, with the rate and quality of the files timed.

    .venv/bin/python benchmarks/speed.py [--profile default] [-n 64]    (or: make bench)

Writes ``reports/<profile>/speed.csv`` (one row per codec and mode: codec, mode, batch, n_images,
encode_ms_per_image, decode_ms_per_image, bpp, ssim) and prints it with the process's peak
resident memory. Torch runs on 2 threads; GAN reversal encodes on the GPU when there is one and
always decodes on the CPU. GAN rows, at the ``results`` section's bit depth with the loss of the
``tradeoff`` section:

- ``search``: the seed's search (InversionConfig's defaults: 1000 steps x 4 random starts, 200
  refinement steps), on a batch of n images and on one image alone;
- ``hybrid``: the encoder's guess, then the command line's default short search, batch and one image;
- ``encoder``: the encoder's guess, quantized, no search;
- ``decode``: batched decoding (one generator pass per batch of files) of many files;
- ``layered``: the hybrid base layer at the residual coders' bit depth plus the middle learned
  residual coder (``gan_residual``), encoded in one batch, decoded file by file;
- ``target ssim>=0.9``: ``compress --target ssim=0.9`` (``gan_ladder``: one search, every rung of the
  quality ladder made and scored, the smallest that meets the target kept), decoded file by file.

Classical and learned codecs encode and decode one image at a time (``batch`` 1); their ``mode``
is their parameter (AVIF's with its encoder speed: the chain's, and 0, the slowest). Every time is
the mean wall time per image after an untimed warm-up call (for a GAN encode,
:func:`ganlib.pipeline.stages.warm_up`: the same mode cut to 2 steps).
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np
import pandas as pd
import torch

from ganlib.codecs import classical, residual, zoo
from ganlib.codecs.gan import GanCodec
from ganlib.core import files, params, paths, runtime
from ganlib.data import datasets
from ganlib.evaluation import metrics, targets
from ganlib.inversion import invert, modes
from ganlib.models import checkpoints, encoder, prior
from ganlib.pipeline import ladder, profiles, stages

CLASSICAL = [("png", None), ("jpeg", 1), ("webp", 0), ("j2k", 20), ("avif", 0), ("kmeans", 4)]  # one setting each
DECODE_FILES = 1024  # files decoded by the batched-decoding row
DECODE_BATCH = 256


def seconds(fn):
    """(result of fn(), wall seconds)."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def row(codec: str, mode, batch: int, images: np.ndarray, blobs, decoded, enc_s: float, dec_s: float) -> dict:
    n = len(images)
    return {"codec": codec, "mode": "" if mode is None else str(mode), "batch": batch, "n_images": n,
            "encode_ms_per_image": 1000 * enc_s / n, "decode_ms_per_image": 1000 * dec_s / n,
            "bpp": float(np.mean([metrics.bpp(len(b), images.shape[1:]) for b in blobs])),
            "ssim": float(np.mean([metrics.ssim(a, b) for a, b in zip(images, decoded)]))}


def codec_row(c, images) -> dict:
    """One image at a time, after one untimed warm-up call each way."""
    c.decode(c.encode(images[0]))
    blobs, enc = seconds(lambda: [c.encode(im) for im in images])
    decoded, dec = seconds(lambda: [c.decode(b) for b in blobs])
    mode = f"{c.param}, speed {c.speed}" if hasattr(c, "speed") else c.param
    return row(c.name, mode, 1, images, blobs, decoded, enc, dec)


def gan_row(mode: str, gan: GanCodec, images: np.ndarray, batch: int) -> dict:
    """Encode in batches of ``batch`` images; decode batched (one pass per batch) when batch > 1."""
    chunks = [images[i:i + batch] for i in range(0, len(images), batch)]
    stages.warm_up(gan, images)
    blobs, enc = seconds(lambda: [b for chunk in chunks for b in gan.encode_batch(chunk)])
    gan.decode_batch(blobs[:batch])
    if batch > 1:
        decoded, dec = seconds(lambda: np.concatenate([gan.decode_batch(blobs[i:i + batch])
                                                        for i in range(0, len(blobs), batch)]))
    else:
        decoded, dec = seconds(lambda: [gan.decode(b) for b in blobs])
    return row("gan", mode, batch, images, blobs, decoded, enc, dec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/speed.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="default", help="the run to read: runs/<profile>/ (default: default)")
    parser.add_argument("-n", type=int, default=64, help="unseen images to time (default: 64)")
    parser.add_argument("--one", type=int, default=2, help="images encoded one at a time by the search (default: 2)")
    args = parser.parse_args(argv)
    try:
        params.int_range("n", args.n, 1, 10**4)
        params.int_range("one", args.one, 1, args.n)
        bits = profiles.stage_params(args.profile, "results").get("gan_bits", 8)
        loss = profiles.stage_params(args.profile, "tradeoff").get("loss", "ssim")
        run = paths.run_dir(args.profile)
        G = checkpoints.load_generator(run)
        E = encoder.load_encoder(run, G)
        arrays = datasets.load_prepared(args.profile)
        if E is None:
            raise FileNotFoundError(f"{paths.relative(run.encoder)} is missing: "
                                    f"make encoder PROFILE={args.profile}")
        P = prior.load(run, G)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    device = runtime.setup(0)
    images = arrays["test"][arrays["unseen_ids"][: args.n]]
    codecs = [zoo.codec(name, p, images.shape[3]) for name, p in CLASSICAL]
    codecs.append(classical.AVIF(0, images.shape[3], speed=0))  # the slowest, best setting, beside the chain's
    budget = run.learned_meta
    if budget.is_file():  # each learned model at its middle lambda
        meta = json.loads(budget.read_text())
        for kind in dict.fromkeys(r["model"] for r in meta["runs"]):
            lambdas = [r["lambda"] for r in meta["runs"] if r["model"] == kind]
            codecs.append(zoo.codec(kind, lambdas[len(lambdas) // 2], images.shape[3], run=run,
                                        shape=images.shape[1:]))
    rows = [codec_row(c, images) for c in codecs]
    search = GanCodec(G, bits, invert.InversionConfig(loss=loss), prior=P)
    hybrid = GanCodec(G, bits, modes.hybrid_config(loss), encoder=E, prior=P)
    alone = GanCodec(G, bits, modes.hybrid_config(loss, steps=0), encoder=E, prior=P)
    rows += [gan_row("search", search, images, len(images)), gan_row("search", search, images[:args.one], 1),
             gan_row("hybrid", hybrid, images, len(images)), gan_row("hybrid", hybrid, images, 1),
             gan_row("encoder", alone, images, len(images))]
    many = arrays["test"][np.resize(np.arange(len(arrays["test"])), DECODE_FILES)]
    blobs = alone.encode_batch(many)
    alone.decode_batch(blobs[:DECODE_BATCH])
    decoded, dec = seconds(lambda: np.concatenate([alone.decode_batch(blobs[i:i + DECODE_BATCH])
                                                    for i in range(0, len(blobs), DECODE_BATCH)]))
    rows.append(row("gan", "decode", DECODE_BATCH, many, blobs, decoded, float("nan"), dec))
    coders, residual_bits = ladder.load_coders(run, images.shape[3])
    base = GanCodec(G, residual_bits, modes.hybrid_config(loss), encoder=E, prior=P)
    decoder = residual.Decoder(base, coders)
    if coders:
        layered = residual.Layered(base, coders[len(coders) // 2])
        blobs, enc = seconds(lambda: layered.encode_batch(images))
        decoded, dec = seconds(lambda: [decoder.decode(b) for b in blobs])
        rows.append(row(layered.name, layered.param, len(images), images, blobs, decoded, enc, dec))
    goal = targets.parse("ssim=0.9")
    chosen, enc = seconds(lambda: [ladder.pick(r, goal) for r in ladder.ladder(base, coders, residual_bits, images)])
    blobs = [c.blob for c in chosen]
    decoded, dec = seconds(lambda: [decoder.decode(b) for b in blobs])
    rows.append(row("gan_ladder", f"target {goal}", len(images), images, blobs, decoded, enc, dec))
    table = pd.DataFrame(rows)
    files.write_csv(paths.report_dir(args.profile) / "speed.csv", table)
    print(f"{len(images)} unseen images {images.shape[1:]} of run {args.profile}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, GAN encoding on {device}, {bits} bits, loss {loss}; "
          f"hybrid: encoder + {hybrid.config.steps} steps + {hybrid.config.refine_steps} refinement steps")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"wrote reports/{args.profile}/speed.csv; peak resident memory: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
