"""Models trained once and shipped, which a profile's training stages load instead of training them
(the stage parameter ``trained_from``, e.g. ``models``): the GAN (02), the encoder and its prior
(02b), the classifier (02c) and the residual coders (04b).

A shipped folder holds each stage's files as the stage leaves a run, and ``trained.json`` (written
by ``make models``, :func:`manifest`): the fingerprint of the training split they were trained on and
the run and commit that trained them. A stage adopts the folder's files (:func:`adopt`) only when the
run's training split has that fingerprint and the settings the stage was asked for are those the
models' own JSON records (ValueError naming each difference otherwise), so a profile's parameters
always describe the models its report shows.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ganlib.core import files, paths
from ganlib.models.learned import data_fingerprint

MANIFEST = "trained.json"
STAGES = ("train", "encoder", "classifier", "residual")  # the stages that can load their models
ADOPTED = "trained_from.json"  # in a run: the manifest of the folder its models came from (make models refuses it)


def stage_files(folder: str | Path, stage: str) -> list[str]:
    """The files of ``stage`` in ``folder`` (a run or a shipped folder), relative to it, in the order
    to copy them: the one that marks the stage complete (make's target) last."""
    run = paths.RunDir(folder)
    if stage == "train":
        return [paths.GENERATOR_CONFIG, paths.TRAIN_HISTORY, paths.GENERATOR]
    if stage == "encoder":
        return [paths.PRIOR, paths.ENCODER_CONFIG, paths.ENCODER]
    if stage == "classifier":
        return [paths.CLASSIFIER, paths.CLASSIFIER_CONFIG]
    if stage == "residual":
        if not run.residual_meta.is_file():
            return []
        meta = files.read_json(run.residual_meta)
        return [run.learned_model("conditional", r["lambda"]).relative_to(run.root).as_posix()
                for r in meta["runs"]] + [paths.RESIDUAL_META]
    raise ValueError(f"stage={stage!r} is not allowed; choose one of: {', '.join(STAGES)}")


def recorded(folder: str | Path, stage: str) -> dict:
    """The settings ``stage``'s models in ``folder`` were trained with, as their JSON records them
    (the keys of the stage's notebook parameters)."""
    run = paths.RunDir(folder)
    if stage == "train":
        meta = files.read_json(run.generator_config)
        return {"latent_dim": meta["config"]["latent_dim"], "width": meta["config"]["width"],
                **{k: meta.get(k) for k in ("steps", "batch_size", "lr", "seed")}}
    if stage == "encoder":
        meta = files.read_json(run.encoder_config)
        return {k: meta.get(k) for k in ("synthetic_steps", "real_steps", "synthetic_std", "batch_size", "lr", "seed")}
    if stage == "classifier":
        meta = files.read_json(run.classifier_config)
        return {k: meta.get(k) for k in ("steps", "batch_size", "lr", "seed")}
    if stage == "residual":
        meta = files.read_json(run.residual_meta)
        first = meta["runs"][0] if meta["runs"] else {}
        return {**{k: meta.get(k) for k in ("base_bits", "loss", "train_images", "n", "m", "down")},
                "lambdas": [r["lambda"] for r in meta["runs"]], **{k: first.get(k) for k in ("steps", "batch_size",
                                                                                               "lr")}}
    raise ValueError(f"stage={stage!r} is not allowed; choose one of: {', '.join(STAGES)}")


def _same(a, b) -> bool:
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))  # 3 == 3.0, tuples as lists


def adopt(run: str | Path, folder: str | Path, stage: str, settings: dict, train_images: np.ndarray) -> dict:
    """Copy ``stage``'s files from the shipped ``folder`` into ``run`` (each atomically, the stage's
    make target last) after checking that ``folder``'s ``trained.json`` names ``train_images``' fingerprint and
    that :func:`recorded` equals ``settings`` (every key of ``settings``); ValueError naming what
    differs otherwise, FileNotFoundError if the folder lacks a file. Writes the run's
    ``trained_from.json`` (the manifest, and the folder); returns the manifest."""
    folder, run = Path(folder), paths.RunDir(run)
    remedy = ("set trained_from to '' to train here, or train and ship the models this profile asks for "
              "(make report PROFILE=full && make models PROFILE=full)")
    where = paths.relative(folder)
    manifest_path = paths.require(folder / MANIFEST, "make models (python -m ganlib.pipeline.ship)")
    shipped = files.read_json(manifest_path)
    mine = data_fingerprint(train_images)
    if shipped.get("data_fingerprint") != mine:
        raise ValueError(f"trained_from: the models in {where}/ were trained on other data (fingerprint "
                         f"{shipped.get('data_fingerprint')}; this run's training split: {mine}); {remedy}")
    names = stage_files(folder, stage)
    for name in names:
        paths.require(folder / name, "make models (python -m ganlib.pipeline.ship)")
    if not names:
        raise FileNotFoundError(f"trained_from: {where}/ ships no models of stage {stage!r}; {remedy}")
    if stage in ("encoder", "residual"):  # made for one generator: the run's must be the folder's
        theirs, ours = (files.read_json(paths.require(paths.RunDir(d).generator_config, "make train"))["fingerprint"]
                        for d in (folder, run))
        if theirs != ours:
            raise ValueError(f"trained_from: the {stage} models in {where}/ belong to generator {theirs}, this run's "
                             f"is {ours} (load the generator from there too: trained_from in section train); {remedy}")
    found = recorded(folder, stage)
    differ = [f"{k}={found.get(k)!r} there, {v!r} here" for k, v in settings.items() if not _same(found.get(k), v)]
    if differ:
        raise ValueError(f"trained_from: the {stage} models in {where}/ were trained with other settings "
                         f"({'; '.join(differ)}); {remedy}")
    files.write_text(run.root / ADOPTED, json.dumps({**shipped, "from": where}, indent=2))
    for name in names:
        with files.atomic_path(run.root / name) as tmp:
            shutil.copyfile(folder / name, tmp)
    return shipped


def manifest(train_images: np.ndarray, profile: str, commit: str) -> dict:
    """What ``trained.json`` holds: the training split's fingerprint, the profile and commit that trained them."""
    return {"data_fingerprint": data_fingerprint(train_images), "profile": profile, "commit": commit,
            "made_by": "make models (python -m ganlib.pipeline.ship)"}
