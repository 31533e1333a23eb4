"""The work of each stage of the chain, one function per notebook (the notebooks call them, show and
explain), so that a stage's computation lives in the package, with tests, and runs the same from a
notebook, a study or a benchmark. Every file a stage writes is named by the run directory,
:class:`ganlib.core.paths.RunDir`.

====================  =====================================================================
notebook              work
====================  =====================================================================
01_data               :func:`prepare_data` (the capacity study: :func:`data_arrays`)
02_train_gan          :func:`train_gan`
02b_train_encoder     :func:`train_encoder` (shown: :func:`encoder_guesses`, :func:`prior_savings`)
02c_train_classifier  :func:`train_classifier`
03_invert             :func:`inversion_settings`, then after the search :func:`invert_files` (the
                      capacity study: :func:`latent_files`)
03b_tradeoff          :func:`measure_modes` (one mode: :func:`measure`)
04_baselines          :func:`learned_codecs`, then :func:`score_baselines`
04b_residual          :func:`train_residual`, then :func:`score_residual`
04c_realism           :func:`score_realism`
05_results            :mod:`ganlib.evaluation.analysis`, one call per table or figure
====================  =====================================================================

The training stages (02, 02b, 02c and 04b's coders) train, or with ``trained_from`` load the models
a folder ships (:func:`ganlib.pipeline.trained.adopt`).
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ganlib.codecs import families, residual
from ganlib.codecs.gan import GanCodec
from ganlib.codecs.learned import Learned
from ganlib.core import files, params, paths, runtime
from ganlib.data import datasets
from ganlib.evaluation import metrics, realism, scoring
from ganlib.formats import latent_format
from ganlib.formats.interface import Codec
from ganlib.inversion import modes
from ganlib.inversion.invert import Inversion, InversionConfig, check_bits
from ganlib.models import checkpoints, classifier, encoder, gan_training, learned, prior
from ganlib.models.nets import Encoder, GanConfig, Generator
from ganlib.pipeline import ladder, trained


def split_images(arrays: dict[str, np.ndarray], split: str, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` (None: all) evaluation images of ``split`` as 01_data drew them: their ids and
    the uint8 images (seen: from the training set, unseen: from the held-out set)."""
    ids = arrays[f"{split}_ids"][:n]
    return ids, arrays["train" if split == "seen" else "test"][ids]


# ---------------------------------------------------------------- 01_data
def data_arrays(dataset: str, data_dir: str | None, image_size: int, channels: int, seed: int,
                unseen_fraction: float, n_images: int, n_eval: int) -> dict[str, np.ndarray]:
    """The data set (:func:`ganlib.data.datasets.load`) with the evaluation images of each split
    drawn from ``seed`` (``seen_ids``, ``unseen_ids``: :func:`ganlib.data.datasets.eval_images`)."""
    arrays = datasets.load(dataset, data_dir, image_size, channels, seed, unseen_fraction, n_images)
    for split in datasets.SPLITS:
        arrays[f"{split}_ids"] = datasets.eval_images(arrays, split, n_eval, seed)[1]
    return arrays


def prepare_data(run: str | Path, dataset: str, data_dir: str | None, image_size: int, channels: int, seed: int,
                 unseen_fraction: float, n_images: int, n_eval: int) -> dict[str, np.ndarray]:
    """01_data: :func:`data_arrays`, written to the run's ``data.npz``; returns them."""
    arrays = data_arrays(dataset, data_dir, image_size, channels, seed, unseen_fraction, n_images, n_eval)
    datasets.save(paths.RunDir(run).data, arrays)
    return arrays


def _adopt(run: str | Path, trained_from: str, stage: str, settings: dict, arrays: dict[str, np.ndarray]) -> dict:
    return trained.adopt(run, paths.project_root() / trained_from, stage, settings, arrays["train"])


# ---------------------------------------------------------------- 02_train_gan
def train_gan(profile: str, arrays: dict[str, np.ndarray], config: GanConfig, steps: int, batch_size: int, lr: float,
              seed: int, processes: int = 1, mixed_precision: bool = True, trained_from: str = ""
              ) -> tuple[Generator, dict, dict | None]:
    """02_train_gan: train ``profile``'s GAN on the training split and write its checkpoint and history
    (:func:`ganlib.models.gan_training.run_stage`), or with ``trained_from`` (a folder of the project,
    e.g. ``models``) load the GAN it ships, trained with these settings on this split. Returns the
    generator, its history and the folder's ``trained.json`` (None when trained here)."""
    if not trained_from:
        G, history = gan_training.run_stage(profile, arrays["train"], config, steps, batch_size, lr, seed, processes,
                                            mixed_precision)
        return G, history, None
    run = paths.run_dir(profile)
    settings = {"latent_dim": config.latent_dim, "width": config.width, "steps": steps, "batch_size": batch_size,
                "lr": lr, "seed": seed}
    shipped = _adopt(run, trained_from, "train", settings, arrays)
    return checkpoints.load_generator(run), gan_training.load_history(run), shipped


# ---------------------------------------------------------------- 02b_train_encoder
def train_encoder(run: str | Path, G: Generator, arrays: dict[str, np.ndarray], synthetic_steps: int,
                  real_steps: int, synthetic_std: float, batch_size: int, lr: float, seed: int, trained_from: str = ""
                  ) -> tuple[Encoder, dict | None, latent_format.LatentModel, int]:
    """02b_train_encoder, in this order: train the encoder on the training images
    (:func:`ganlib.models.encoder.train_encoder`); draw the training images the prior is fitted to
    (:func:`ganlib.models.prior.fit_ids`: never an evaluation image); fit the encoder's search
    metric (:func:`ganlib.models.encoder.fit_metric`), before the hybrid search uses it; fit the
    latent prior to the hybrid search's latents (:func:`ganlib.inversion.modes.hybrid_latents`)
    and write ``prior.json``; then write the encoder.

    The encoder's weights are written LAST: their file marks the stage complete (it is make's
    target, and what the later stages load), so an interrupted stage never leaves an encoder
    beside a missing or stale prior. Returns the encoder, its training history, the prior and
    the number of images it was fitted to. With ``trained_from``: the encoder and prior that folder
    ships (for ``G`` and these settings), and no history."""
    if trained_from:
        settings = {"synthetic_steps": synthetic_steps, "real_steps": real_steps, "synthetic_std": synthetic_std,
                    "batch_size": batch_size, "lr": lr, "seed": seed}
        _adopt(run, trained_from, "encoder", settings, arrays)
        fitted_to = int(files.read_json(paths.RunDir(run).prior).get("images", 0))
        return encoder.load_encoder(run, G), None, prior.load(run, G), fitted_to
    E, history = encoder.train_encoder(G, arrays["train"], synthetic_steps, real_steps, batch_size, lr, seed,
                                       synthetic_std)
    fit_ids = prior.fit_ids(arrays, prior.FIT_IMAGES, seed)  # training images, never the evaluation images
    encoder.fit_metric(G, E, arrays["train"][fit_ids[:encoder.METRIC_IMAGES]])  # before the hybrid search uses it
    P = prior.fit(modes.hybrid_latents(G, E, arrays["train"][fit_ids], progress=True), G)
    prior.save(run, P, {"images": len(fit_ids), "images_from": "train minus seen_ids", "seed": seed,
                        "search": "hybrid (ganlib.inversion.modes.hybrid_config), loss ssim"})
    encoder.save_encoder(run, E, G, extra={"synthetic_steps": synthetic_steps, "real_steps": real_steps,
                                           "synthetic_std": synthetic_std, "batch_size": batch_size, "lr": lr,
                                           "seed": seed, "seconds": round(history["seconds"], 1),
                                           "encoder_parameters": sum(p.numel() for p in E.parameters()),
                                           "prior_model_fingerprint": P.fingerprint.hex()})  # last: stage complete
    return E, history, P, len(fit_ids)


def encoder_guesses(G: Generator, E: Encoder, arrays: dict[str, np.ndarray]
                    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, float]]:
    """The encoder alone, no search: G(E(x)) for the evaluation images of each split. Returns, each
    by split, the images, their reconstructions and the mean SSIM of the reconstructions."""
    images = {s: split_images(arrays, s)[1] for s in datasets.SPLITS}
    recon = {s: runtime.to_uint8(G(encoder.encode(E, im))) for s, im in images.items()}
    ssim = {s: float(np.mean([metrics.ssim(a, b) for a, b in zip(images[s], recon[s])])) for s in datasets.SPLITS}
    return images, recon, ssim


def prior_savings(G: Generator, E: Encoder, P: latent_format.LatentModel, images: np.ndarray,
                  bits: Sequence[int] = (4, 6, 8)) -> pd.DataFrame:
    """What the fitted prior ``P`` saves: the mean file bytes of the encoder's guesses for ``images``
    (no search) quantized at each of ``bits``, coded under the unit prior N(0, 1) and under ``P``,
    and the fixed-length (raw) file's bytes; one row per bit depth."""
    z = encoder.encode(E, images, P.z_range).numpy()
    coders = {"unit prior N(0, 1)": GanCodec(G), "fitted prior": GanCodec(G, prior=P)}
    sizes = pd.DataFrame({name: [np.mean([len(c.pack(s, b)) for s in latent_format.quantize(z, b, P.z_range)])
                                 for b in bits] for name, c in coders.items()}, index=[f"{b} bits" for b in bits])
    sizes["raw"] = [latent_format.max_file_bytes(G.config.latent_dim, b) for b in bits]
    return sizes


# ---------------------------------------------------------------- 02c_train_classifier
NO_LABELS = ("the data set has no class labels (a folder data set needs one subfolder per class, the ImageFolder "
             "layout), so there is no classifier: no accuracy, agreement, KID or FID")


def train_classifier(run: str | Path, arrays: dict[str, np.ndarray], steps: int, batch_size: int, lr: float,
                     seed: int, trained_from: str = "") -> tuple[classifier.Classifier | None, dict]:
    """02c_train_classifier: the realism study's feature network (:func:`ganlib.models.classifier.train`)
    on the training split and its labels, its accuracy on the held-out split, saved to the run's
    ``classifier.safetensors`` and ``classifier.json`` (last: the stage's target). Without labels
    only the JSON is written, saying why (:data:`NO_LABELS`). With ``trained_from``: the classifier that
    folder ships (trained with these settings on this split). Returns the model (or None) and the JSON."""
    run = paths.RunDir(run)
    if trained_from:
        _adopt(run, trained_from, "classifier", {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed},
               arrays)
        return classifier.load_classifier(run)
    if "train_labels" not in arrays:
        meta = {"classes": 0, "reason": NO_LABELS}
        files.write_text(run.classifier_config, json.dumps(meta, indent=2))
        return None, meta
    model, history = classifier.train(arrays["train"], arrays["train_labels"], steps, batch_size, lr, seed)
    preds, _ = classifier.classify(model, arrays["test"])
    meta = {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "seconds": round(history["seconds"], 1),
            "parameters": sum(p.numel() for p in model.parameters()), "class_names": arrays["classes"].tolist(),
            "test_accuracy": float(np.mean(preds == arrays["test_labels"])), "test_images": len(preds),
            "final_loss": float(history["loss"][-50:].mean())}
    classifier.save(run, model, arrays["train"], meta)
    return model, classifier.load_classifier(run)[1]


# ---------------------------------------------------------------- 03_invert
INVERSION_MODES = ("search", "hybrid", "encoder")  # 03_invert's modes: the seed's search, the command line's two


def inversion_settings(split: str, name: str, n_images: int, bits, mode: str = "search", **search
                       ) -> tuple[str, InversionConfig, list[int]]:
    """03_invert's parameters, checked (ValueError naming the first bad one): the run's name (the
    split when ``name`` is empty), the search and the bit depths, ascending. The search is
    :class:`ganlib.inversion.invert.InversionConfig` of ``search`` (its fields) in ``mode``
    ``search``; in ``hybrid`` and ``encoder`` it is the command line's mode of that name
    (:func:`ganlib.inversion.modes.hybrid_config`), with the loss and seed of ``search``."""
    params.choice("split", split, datasets.SPLITS)
    params.choice("mode", mode, INVERSION_MODES)
    name = name or split
    params.slug("name", name)
    params.int_range("n_images", n_images, 1, 10**6)
    config = InversionConfig(**search)
    if mode != "search":
        config = modes.hybrid_config(config.loss, None if mode == "hybrid" else 0, config.seed)
    return name, config, check_bits(bits)


def latent_files(gan: GanCodec, originals: np.ndarray, ids, result: Inversion, bit_depths: Sequence[int],
                 run: str | Path, name: str, rounded: bool = True, log: Callable[[str], None] | None = None
                 ) -> tuple[list[dict], dict[int, np.ndarray]]:
    """The files of one search (``result``, for ``originals``, evaluation images ``ids``) at every
    bit depth, in order. For each: the latents refined on the grid
    (:meth:`ganlib.codecs.gan.GanCodec.refined_symbols`), each file written to the run's
    ``latents/<name>/b<bits>/<id>.gan``, read back, decoded and scored; with ``rounded``, also the
    latents rounded to the grid, packed and scored from their bytes (not written: the control of
    refinement; without refinement those are the refined files, whose rows are copied). ``log``: a
    line per bit depth.

    Returns the rows (``image_id``, ``bits``, ``stage`` = ``rounded`` or ``refined``, then
    :func:`ganlib.evaluation.scoring.score_files`' keys) and the decoded refined images by bit depth."""
    run = paths.RunDir(run)
    rows, decoded = [], {}
    for b in bit_depths:
        refined = [gan.pack(s, b) for s in gan.refined_symbols(originals, result, b)]
        stored = [run.latent_file(name, b, i) for i in ids]
        scored, decoded[b] = scoring.write_and_score(gan, refined, originals, stored)
        if rounded and gan.config.refine_steps:
            blobs = [gan.pack(s, b) for s in latent_format.quantize(result.z.numpy(), b, gan.config.z_range)]
            rows += [{"image_id": int(i), "bits": b, "stage": "rounded", **r}
                     for i, r in zip(ids, scoring.score_files(gan, blobs, originals)[0])]
        elif rounded:  # no refinement: the refined files are the rounded ones
            rows += [{"image_id": int(i), "bits": b, "stage": "rounded", **r} for i, r in zip(ids, scored)]
        rows += [{"image_id": int(i), "bits": b, "stage": "refined", **r} for i, r in zip(ids, scored)]
        if log is not None:
            log(f"{b} bits: mean file {np.mean([r['bytes'] for r in scored]):.1f} bytes (bound "
                f"{latent_format.max_file_bytes(gan.G.config.latent_dim, b, gan.shape)}), "
                f"SSIM {np.mean([r['ssim'] for r in scored]):.4f}")
    return rows, decoded


def invert_files(gan: GanCodec, originals: np.ndarray, ids, result: Inversion, float_images: np.ndarray,
                 bit_depths: Sequence[int], run: str | Path, name: str, split: str, loss: str,
                 log: Callable[[str], None] | None = print, mode: str = "search"
                 ) -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """03_invert after its search: the unquantized reconstructions ``float_images`` scored (rows of
    stage ``float``), then :func:`latent_files`; every row with the ``split``, the ``mode`` (03's,
    :data:`INVERSION_MODES`), the ``loss`` and the image id. Writes the run's ``invert_<name>.csv``
    (the rows) and ``invert_<name>.npz`` (ids, originals, float images and the decoded files per bit
    depth). Returns the rows and the decoded images by bit depth."""
    run = paths.RunDir(run)
    meta = {"split": split, "mode": mode, "loss": loss}
    rows = [{**meta, "image_id": int(i), "bits": np.nan, "stage": "float", "psnr": metrics.psnr(o, d),
             "mse": metrics.mse(o, d), "ssim": metrics.ssim(o, d)}
            for i, o, d in zip(ids, originals, float_images)]
    found, decoded = latent_files(gan, originals, ids, result, bit_depths, run, name, log=log)
    table = pd.DataFrame(rows + [{**meta, **r} for r in found])
    datasets.save(run.inversion_npz(name), {"ids": ids, "originals": originals, "float_images": float_images,
                                            **{f"decoded_b{b}": im for b, im in decoded.items()}})
    files.write_csv(run.inversion_csv(name), table)
    return table, decoded


# ---------------------------------------------------------------- 03b_tradeoff
def warm_up(gan: GanCodec, images: np.ndarray) -> None:
    """Encode 2 images with ``gan``'s settings cut to at most 2 steps each, untimed: the first
    encode of a process pays a one-time setup (about 200 ms here) that timing must not count."""
    c = gan.config
    fast = replace(c, steps=min(c.steps, 2), refine_steps=min(c.refine_steps, 2))
    GanCodec(gan.G, gan.param, fast, encoder=gan.encoder, prior=gan.prior).encode_batch(images[:2])


def measure(G: Generator, E: Encoder | None, prior: latent_format.LatentModel | None, images: np.ndarray, ids,
            mode: modes.Mode, bits: int, folder: Path) -> list[dict]:
    """Encode ``images`` as one batch with ``mode`` (files coded under ``prior``, the run's latent
    prior; None: the unit prior), timed (wall clock, after :func:`warm_up`), write one file per
    image to ``folder/<id>.gan``, read them back, decode and score. One row per image, with the mode,
    its settings and ``encode_ms`` (the batch's encode time per image)."""
    c = mode.config
    gan = GanCodec(G, bits, c, encoder=E, prior=prior)
    warm_up(gan, images)
    start = time.perf_counter()
    blobs = gan.encode_batch(images)
    ms = 1000 * (time.perf_counter() - start) / len(images)
    rows, _ = scoring.write_and_score(gan, blobs, images, [Path(folder) / paths.latent_name(i) for i in ids])
    return [{"mode": mode.name, "optimizer": c.optimizer, "label": mode.label, "steps": c.steps, "restarts": c.restarts,
             "refine_steps": c.refine_steps, "bits": bits, "image_id": int(i), "encode_ms": ms, **r}
            for i, r in zip(ids, rows)]


def measure_modes(run: str | Path, G: Generator, E: Encoder, P: latent_format.LatentModel | None,
                  arrays: dict[str, np.ndarray], mode_list: Sequence[modes.Mode], bits: int, n_images: int,
                  loss: str) -> pd.DataFrame:
    """03b_tradeoff: every mode of ``mode_list`` on the first ``n_images`` evaluation images of each
    split (unseen first), :func:`measure`'d into the run's ``tradeoff/<split>/<mode slug>/``; the
    rows (with ``split`` and ``loss``) are written to ``tradeoff.csv`` and returned."""
    run = paths.RunDir(run)
    rows = []
    for split in ["unseen", "seen"]:
        ids, images = split_images(arrays, split, n_images)
        for mode in runtime.progress(mode_list, desc=split):
            folder = run.tradeoff_dir(split, mode.slug)
            rows += [{"split": split, "loss": loss, **r} for r in measure(G, E, P, images, ids, mode, bits, folder)]
    table = pd.DataFrame(rows)
    files.write_csv(run.tradeoff_csv, table)
    return table


# ---------------------------------------------------------------- 04_baselines
KEEP_IMAGES = 64  # decoded images 04 and 04b keep per codec, for the notebooks' and 05's grids


def learned_codecs(run: str | Path, arrays: dict[str, np.ndarray], models: list, learned_from: str,
                   lambdas: dict[str, list], steps: int, batch_size: int, lr: float, seed: int, n: int, m: int,
                   down: int) -> tuple[list[Learned], list[dict], dict[str, list]]:
    """04_baselines' learned codecs, one per family of ``models`` and λ: loaded from ``learned_from``
    (a folder relative to the project root that ``make learned`` shipped, checked against the
    run's training split: :func:`ganlib.models.learned.load_shipped`) when it is given, else
    trained here on the training split (:func:`ganlib.models.learned.train_all`, ``lambdas`` by
    distortion). Returns the codecs, one budget row per model and the per-step train bpp (none
    for loaded models)."""
    images = arrays["train"]
    if learned_from:
        trained, budget = learned.load_shipped(paths.project_root() / learned_from, run, models, images)
        train_bpp = {}
    else:
        trained, budget, train_bpp = learned.train_all(images, run, models, lambdas, steps, batch_size, lr, seed, n, m,
                                                       down)
    codecs = [Learned(model, lam, images.shape[1:], learned.parse_family(family)[1]) for family, lam, model in trained]
    return codecs, budget, train_bpp


def score_baselines(run: str | Path, arrays: dict[str, np.ndarray], codecs: Sequence[Codec],
                    learned_codecs: Sequence[Codec] = ()) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """04_baselines: every codec on every evaluation image of each split
    (:func:`ganlib.evaluation.scoring.score_codecs`, the codecs in one process per core), each file
    in the run's ``baselines/<codec id>/<split>_<id>.<codec name>``. The rows go to ``baselines.csv``;
    the first :data:`KEEP_IMAGES` decoded images of the seed's schemes
    (:data:`ganlib.codecs.families.SUMMARY`) and of ``learned_codecs``, for 05's side-by-side grid, to
    ``baselines.npz``, and every decoded image, in the rows' order, for 04c, to ``baselines_decoded.npy``.
    Returns the rows and the kept images."""
    run = paths.RunDir(run)
    keep = {(s.family, s.param) for s in families.SUMMARY.values()} | {(c.name, c.param) for c in learned_codecs}
    images = {split: split_images(arrays, split) for split in datasets.SPLITS}
    table, decoded = scoring.score_codecs(codecs, images, run.baseline_file, bar=runtime.progress,
                                          workers=os.cpu_count() or 1)
    save_decoded(run.baselines_decoded, decoded)
    kept = {f"{split}_{c.id}": decoded[f"{split}_{c.id}"][:KEEP_IMAGES] for split in images for c in codecs
            if (c.name, c.param) in keep}
    datasets.save(run.baselines_npz, kept)
    files.write_csv(run.baselines_csv, table)
    return table, kept


def save_decoded(path: Path, decoded: dict[str, np.ndarray]) -> None:
    """Every decoded image of :func:`ganlib.evaluation.scoring.score_codecs` (by split and codec, in
    the order of its rows) as one uint8 array (rows, H, W, C) in ``path`` (.npy, atomically)."""
    with files.atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, np.concatenate(list(decoded.values())))


# ---------------------------------------------------------------- 04b_residual
def train_residual(run: str | Path, arrays: dict[str, np.ndarray], base: GanCodec, base_bits: int, loss: str,
                   train_images: int, lambdas: list, steps: int, batch_size: int, lr: float, seed: int, n: int,
                   m: int, down: int, trained_from: str = "") -> tuple[list, list[dict], dict, dict]:
    """04b_residual's training: the base layers of ``train_images`` training images
    (:func:`ganlib.codecs.residual.training_subset`), encoded and decoded as the codec will (timed),
    then the learned residual coder at every λ (:func:`ganlib.codecs.residual.train_all`, which
    writes the models and ``residual.json``). Returns the enhancement layers, the budget rows,
    the per-step train bpp and the base layer's settings (with ``train_images`` and ``base_seconds``).
    With ``trained_from``: the coders that folder ships for this run's generator and these settings
    (no per-step history)."""
    if trained_from:
        settings = {"base_bits": base_bits, "loss": loss, "train_images": train_images, "n": n, "m": m, "down": down,
                    "lambdas": list(lambdas), "steps": steps, "batch_size": batch_size, "lr": lr}
        _adopt(run, trained_from, "residual", settings, arrays)
        meta = files.read_json(paths.RunDir(run).residual_meta)
        layers, _ = ladder.load_coders(run, arrays["train"].shape[3])
        return layers, meta.pop("runs"), {}, meta
    train = residual.training_subset(arrays["train"], train_images, seed)
    start = time.perf_counter()
    train_bases = residual.base_images(base, train, progress=True)
    base_seconds = time.perf_counter() - start
    meta = {"base_bits": base_bits, "loss": loss, "train_images": len(train), "base_seconds": round(base_seconds, 1)}
    layers, budget, train_bpp = residual.train_all(train, train_bases, run, lambdas, steps, batch_size, lr, seed, n, m,
                                                   down, meta)
    return layers, budget, train_bpp, meta


def _encode_layered(codec: residual.Layered, originals: np.ndarray, base_files: list[bytes]) -> list[bytes]:
    return codec.encode_batch(originals, base_files)


def score_residual(run: str | Path, arrays: dict[str, np.ndarray], base: GanCodec, layers: Sequence,
                   webp: Sequence[int]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """04b_residual's evaluation: the layered codecs (the base alone, each learned layer, then WebP on
    the residual at each quality of ``webp``) on every evaluation image of each split
    (:func:`ganlib.evaluation.scoring.score_codecs`); each split's base layers are encoded once and
    shared by every codec. Files go to the run's ``residual/<codec id>/<split>_<id>.<codec name>``, the
    rows to ``residual.csv``, the decoded images in the rows' order to ``residual_decoded.npy``. Returns
    the rows and the first :data:`KEEP_IMAGES` decoded images by ``"<split>_<codec id>"``."""
    run = paths.RunDir(run)
    codecs = [residual.Layered(base, layer) for layer in [residual.BaseOnly(), *layers]]
    codecs += [residual.Layered(base, residual.WebpResidual(q, arrays["train"].shape[3])) for q in webp]
    images = {split: split_images(arrays, split) for split in datasets.SPLITS}
    table, decoded = scoring.score_codecs(codecs, images, run.residual_file, encode=_encode_layered,
                                          prepare=base.encode_batch, bar=runtime.progress, workers=os.cpu_count() or 1)
    save_decoded(run.residual_decoded, decoded)
    files.write_csv(run.residual_csv, table)
    return table, {k: v[:KEEP_IMAGES] for k, v in decoded.items()}


# ---------------------------------------------------------------- 04c_realism
def score_realism(run: str | Path, arrays: dict[str, np.ndarray], model: classifier.Classifier, subsets: int,
                  seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """04c_realism: the classifier's prediction and features of every decoded set
    (:func:`ganlib.evaluation.realism.decoded_sets`), scored by :func:`ganlib.evaluation.realism.score_set`
    against the real held-out images that are not evaluation images (the KID and FID reference;
    every feature divided by the reference's :func:`ganlib.evaluation.realism.feature_scale`), with
    the references per split: the originals, and as many random samples of the generator and
    images of uniform noise (both drawn from ``seed``; noise scored against the originals' labels).
    Writes ``realism_images.csv`` (codec, param, split, image_id, label, pred, original_pred,
    correct, agrees), then ``realism.csv`` (:data:`ganlib.evaluation.realism.COLUMNS`; last, the
    stage's target); returns both."""
    run = paths.RunDir(run)
    reference_ids = np.setdiff1d(np.arange(len(arrays["test"])), arrays["unseen_ids"])
    reference = classifier.classify(model, arrays["test"][reference_ids])[1]
    scale = realism.feature_scale(reference)
    truth = {s: arrays[("train" if s == "seen" else "test") + "_labels"][arrays[f"{s}_ids"]] for s in datasets.SPLITS}
    originals = {s: classifier.classify(model, split_images(arrays, s)[1]) for s in datasets.SPLITS}
    n = max(len(t) for t in truth.values())
    G = checkpoints.load_generator(run, runtime.device())
    with torch.no_grad():
        z = torch.randn(n, G.config.latent_dim, generator=torch.Generator().manual_seed(seed))
        fake = runtime.to_uint8(G(z.to(runtime.device())))
    noise = np.random.default_rng(seed).integers(0, 256, (n, *arrays["test"].shape[1:]), dtype=np.uint8)
    rows, per_image = [], []
    for split in datasets.SPLITS:
        k = len(truth[split])
        for name, images, labels in (("original", None, truth[split]), ("samples", fake[:k], None),
                                     ("noise", noise[:k], truth[split])):
            preds, feats = originals[split] if images is None else classifier.classify(model, images)
            rows.append({"codec": name, "param": np.nan, "split": split, **realism.score_set(
                preds, feats / scale, reference / scale, labels, None if images is not None else preds, subsets,
                seed)})
    position = {s: {int(i): k for k, i in enumerate(arrays[f"{s}_ids"])} for s in datasets.SPLITS}
    for codec, param, split, group, images in runtime.progress(realism.decoded_sets(run), desc="realism"):
        at = [position[split][int(i)] for i in group.image_id]
        preds, feats = classifier.classify(model, images)
        labels, original = truth[split][at], originals[split][0][at]
        mse = (255.0 ** 2 / 10 ** (group.psnr.clip(upper=200) / 10)).mean()
        rows.append({"codec": codec, "param": param, "split": split, "bpp": group.bpp.mean(),
                     "psnr": group.psnr.mean(), "mse": mse, "ssim": group.ssim.mean(),
                     **realism.score_set(preds, feats / scale, reference / scale, labels, original, subsets, seed)})
        per_image.append(pd.DataFrame({"codec": codec, "param": param, "split": split, "image_id": group.image_id,
                                       "label": labels, "pred": preds, "original_pred": original,
                                       "correct": preds == labels, "agrees": preds == original}))
    table = pd.DataFrame(rows, columns=realism.COLUMNS)
    images_table = pd.concat(per_image, ignore_index=True)
    files.write_csv(run.realism_images_csv, images_table)
    files.write_csv(run.realism_csv, table)  # last: the stage's target
    return table, images_table


def no_realism(run: str | Path) -> pd.DataFrame:
    """04c_realism without a classifier (no labels: :data:`NO_LABELS`): ``realism.csv`` with its
    columns and no rows, so 05 says why rather than printing empty columns. Returns it."""
    run = paths.RunDir(run)
    table = pd.DataFrame(columns=realism.COLUMNS)
    files.write_csv(run.realism_images_csv, pd.DataFrame(columns=["codec", "param", "split", "image_id"]))
    files.write_csv(run.realism_csv, table)
    return table
