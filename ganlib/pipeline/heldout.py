"""The held-out-class experiment: what the codec a user runs does with images of a class its GAN
never saw, against unseen images of the classes it did see, next to WebP.

    python -m ganlib.pipeline.heldout [--settings params/heldout.yaml]      (or: make heldout)

A GAN, its encoder and latent prior, and the learned residual coders are trained as the default
chain trains them (:func:`ganlib.models.gan_training.train_gan`,
:func:`ganlib.pipeline.stages.train_encoder`, :func:`ganlib.pipeline.stages.train_residual`), but on
the training images of every class except ``held_out_class``, into ``runs/heldout/``. Then the first
``n_images`` held-out test images of that class and as many test images of the other classes go
through the command line's quality ladder (:mod:`ganlib.pipeline.ladder`, one search each), and through
WebP at every quality. ``reports/heldout/heldout.csv`` has, per group, the base layer alone at 8
bits, the layered file at the middle λ, ``compress --target`` at each target (bytes, the rung kinds
it needed) and WebP's per-image target; ``reports/heldout/grid.npz`` the first images with their
base layers, which the default report shows.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from ganlib.codecs import classical, zoo
from ganlib.core import files, params, paths, runtime
from ganlib.data import datasets
from ganlib.evaluation import metrics, targets
from ganlib.formats import layered_format
from ganlib.models import checkpoints, gan_training
from ganlib.models.nets import GanConfig
from ganlib.pipeline import ladder, stages

NAME = "heldout"
SETTINGS = "params/heldout.yaml"
KEYS = ("held_out_class", "n_images", "grid", "seed", "gan", "encoder", "residual", "targets")
WEBP = tuple(range(0, 101, 5))  # WebP's qualities searched per image


def check_settings(raw, where: str = SETTINGS) -> dict:
    """The experiment's settings, checked (ValueError naming the key)."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must be a mapping")
    message = params.unknown_names(list(raw), KEYS, f"in {where}")
    if message or set(KEYS) - set(raw):
        raise ValueError(message or f"{where}: missing {', '.join(sorted(set(KEYS) - set(raw)))}")
    params.int_range("held_out_class", raw["held_out_class"], 0, len(datasets.FASHION_CLASSES) - 1)
    params.int_range("n_images", raw["n_images"], 2, 1000)
    params.int_range("grid", raw["grid"], 1, raw["n_images"])
    for text in raw["targets"]:
        targets.parse(text)
    return raw


def train(settings: dict, arrays: dict, run: paths.RunDir) -> tuple:
    """The GAN, encoder, prior and residual coders on the training images of the other classes, in ``run``
    (read back if already there). Returns the hybrid base codec, the residual coders and their base bits."""
    keep = arrays["train_labels"] != settings["held_out_class"]
    nine = {"train": arrays["train"][keep], "seen_ids": np.zeros(0, np.int64)}
    g, e, r = settings["gan"], settings["encoder"], settings["residual"]
    if not run.generator.is_file():
        cfg = GanConfig(g["latent_dim"], g["width"], nine["train"].shape[1], nine["train"].shape[3])
        G, hist = gan_training.train_gan(nine["train"], cfg, g["steps"], g["batch_size"], g["lr"], settings["seed"])
        checkpoints.save_generator(run, G, extra={"steps": g["steps"], "seconds": round(hist["seconds"], 1)})
    G = checkpoints.load_generator(run)
    if not run.encoder.is_file():
        stages.train_encoder(run, G, nine, e["synthetic_steps"], e["real_steps"], 1.4, e["batch_size"], e["lr"],
                             settings["seed"])
    base = zoo.hybrid_gan(run, r["base_bits"], "mse")
    if not run.residual_meta.is_file():
        stages.train_residual(run, nine, base, r["base_bits"], "mse", r["train_images"], r["lambdas"], r["steps"],
                              16, 0.003, settings["seed"], 16, 32, 1)
    coders, bits = ladder.load_coders(run, G.config.channels)
    return zoo.hybrid_gan(run, 8, "ssim"), coders, bits


def webp_target(images: np.ndarray, target: targets.Target) -> tuple[float, float]:
    """WebP searched per image over :data:`WEBP` (as ``cwebp -size``/``-psnr``): (share of images some
    quality meets ``target`` for, mean bytes of the smallest such file over those)."""
    chosen, codecs = [], [classical.codec("webp", q, images.shape[3]) for q in WEBP]
    for image in images:
        blobs = [c.encode(image) for c in codecs]
        scores = targets.scored(image, blobs, [codecs[0].decode(b) for b in blobs])
        pick = targets.choose([len(b) for b in blobs], [s[target.metric] for s in scores], target)
        chosen.append(np.nan if pick is None else len(blobs[pick]))
    chosen = np.array(chosen, dtype=float)
    return float(np.isfinite(chosen).mean()), float(np.nanmean(chosen)) if np.isfinite(chosen).any() else np.nan


def evaluate(settings: dict, gan, coders, bits: int, groups: dict[str, np.ndarray]) -> tuple[pd.DataFrame, dict]:
    """The table (one row per group and what was measured) and the grid's images per group."""
    rows, grid = [], {}
    middle = f"learned λ={coders[len(coders) // 2].param:g}" if coders else None
    for group, images in groups.items():
        rungs = [r for chunk in range(0, len(images), 64)
                 for r in ladder.ladder(gan, coders, bits, images[chunk:chunk + 64])]
        for label, name in (("base layer alone, 8 bits", "base 8 bits"), (f"layered, {middle}", middle)):
            picked = [next(r for r in per if r.name == name) for per in rungs] if name else []
            if picked:
                rows.append({"group": group, "what": label, "n_images": len(picked), "met": np.nan,
                             "bytes": np.mean([len(r.blob) for r in picked]),
                             "ssim": np.mean([r.score["ssim"] for r in picked]),
                             "psnr": np.mean([r.score["psnr"] for r in picked]), "lossless": np.nan})
        for text in settings["targets"]:
            target = targets.parse(text)
            picked = [ladder.pick(per, target) for per in rungs]
            rows.append({"group": group, "what": f"compress --target {text}", "n_images": len(picked), "met": 1.0,
                         "bytes": np.mean([len(r.blob) for r in picked]),
                         "ssim": np.mean([r.score["ssim"] for r in picked]),
                         "psnr": np.mean([min(r.score["psnr"], 100.0) for r in picked]),
                         "lossless": np.mean([r.name == "lossless" for r in picked])})
            met, mean_bytes = webp_target(images, target)
            rows.append({"group": group, "what": f"WebP per image, {text}", "n_images": len(images), "met": met,
                         "bytes": mean_bytes, "ssim": np.nan, "psnr": np.nan, "lossless": np.nan})
        n = settings["grid"]
        base = gan.decode_batch([layered_format.unpack(next(r for r in per if r.name == "base 8 bits").blob).base
                                 for per in rungs[:n]])
        grid[f"{group}_originals"], grid[f"{group}_base"] = images[:n], base
    table = pd.DataFrame(rows)
    table["bpp"] = [metrics.bpp(b, groups[g].shape[1:]) for g, b in zip(table.group, table.bytes)]
    return table, grid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganlib.pipeline.heldout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", default=SETTINGS, help=f"the experiment's settings (default {SETTINGS})")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        settings = check_settings(params.read_yaml(paths.project_root() / args.settings), args.settings)
        runtime.setup(settings["seed"])
        arrays = datasets.load("fashion_mnist", None, 28, 1, settings["seed"])
        gan, coders, bits = train(settings, arrays, paths.run_dir(NAME))
        k, n = settings["held_out_class"], settings["n_images"]
        order = np.random.default_rng(settings["seed"]).permutation(len(arrays["test"]))
        labels = arrays["test_labels"][order]
        groups = {f"held-out class ({datasets.FASHION_CLASSES[k]})": arrays["test"][order[labels == k][:n]],
                  "other classes, unseen": arrays["test"][order[labels != k][:n]]}
        table, grid = evaluate(settings, gan, coders, bits, groups)
    except (ValueError, FileNotFoundError, datasets.DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = paths.report_dir(NAME)
    datasets.save(report / "grid.npz", grid)
    files.write_csv(report / "heldout.csv", table)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"wrote {paths.relative(report)}/heldout.csv in {round(time.perf_counter() - started)} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
