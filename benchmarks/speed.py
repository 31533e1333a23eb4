"""Encode and decode speed of every codec on this machine, on a finished run's unseen images.

    .venv/bin/python benchmarks/speed.py [--profile default] [-n 16]    (or: make bench)

Prints, per codec, the mean wall time per image to encode and to decode (torch on 2 threads;
GAN reversal encodes on the GPU when there is one and decodes on the CPU), and the process's
peak resident memory. GAN reversal encodes with the settings of the profile's
``invert_unseen`` section at 8 bits, once for a batch of n images (as 03_invert does) and
once for one image alone (as ``python -m ganlib compress`` does).
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import pandas as pd
import torch

from ganlib import baselines, data, invert, learned, params, paths, pipeline, runtime, train

CLASSICAL = [("png", None), ("jpeg", 1), ("webp", 0), ("j2k", 20), ("avif", 0), ("kmeans", 4)]


def seconds(fn):
    """(result of fn(), wall seconds)."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def codec_row(c, images, encode_batch=None) -> dict:
    """Mean ms per image to encode (one by one, or with ``encode_batch``) and to decode, each
    after one untimed warm-up call (except a batch encode: that is GAN reversal's search)."""
    if encode_batch is None:
        c.encode(images[0])
    blobs, enc = seconds(lambda: encode_batch(images) if encode_batch else [c.encode(im) for im in images])
    c.decode(blobs[0])
    _, dec = seconds(lambda: [c.decode(b) for b in blobs])
    n = len(images)
    return {"codec": c.id, "encode ms/image": 1000 * enc / n, "decode ms/image": 1000 * dec / n,
            "mean bytes": sum(map(len, blobs)) / n}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/speed.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="default", help="the run to read: runs/<profile>/ (default: default)")
    parser.add_argument("-n", type=int, default=16, help="unseen images to time (default: 16)")
    args = parser.parse_args(argv)
    try:
        params.int_range("n", args.n, 1, 10**4)
        cfg = pipeline.stage_params(args.profile, "invert_unseen")
        run = paths.run_dir(args.profile)
        G = train.load_generator(run)
        arrays = data.load_prepared(args.profile)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    device = runtime.setup(0)
    images = arrays["test"][arrays["unseen_ids"][: args.n]]
    codecs = [baselines.codec(name, p, images.shape[3]) for name, p in CLASSICAL]
    budget = run / "learned.json"
    if budget.is_file():  # each learned model at its middle lambda
        meta = json.loads(budget.read_text())
        for kind in dict.fromkeys(r["model"] for r in meta["runs"]):
            lambdas = [r["lambda"] for r in meta["runs"] if r["model"] == kind]
            lam = lambdas[len(lambdas) // 2]
            model = learned.load(learned.checkpoint(run, kind, lam), images.shape[3], meta["n"], meta["m"], kind)
            codecs.append(learned.Learned(model, lam, images.shape[1:]))
    rows = [codec_row(c, images) for c in codecs]
    gan = invert.GanCodec(G, bits=8, loss=cfg.get("loss", "ssim"), steps=cfg.get("steps", 1000),
                          restarts=cfg.get("restarts", 1), refine_steps=cfg.get("refine_steps", 200))
    rows.append({**codec_row(gan, images, gan.encode_batch), "codec": f"gan8, batch of {len(images)}"})
    rows.append({**codec_row(gan, images[:1], gan.encode_batch), "codec": "gan8, one image"})
    print(f"{len(images)} unseen images {images.shape[1:]} of run {args.profile}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, GAN encoding on {device}; GAN reversal: loss {gan.loss}, "
          f"{gan.steps} steps x {gan.restarts} starts, {gan.refine_steps} refinement steps")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
