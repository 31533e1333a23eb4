"""The capacity study (issue 9, item 4): where GAN reversal's quality ceiling comes from.

``python -m ganlib.pipeline.study [--profile study] [--baselines reports/default/rd.csv]`` (``make study``)
reads ``params/<profile>.yaml`` (not a profile of the notebook chain: ``ganlib.pipeline.profiles`` refuses it),
and for each model of its ``models`` list (a latent_dim and a generator width, optionally its own
number of training steps):

1. trains the GAN with :func:`ganlib.models.gan_training.train_gan` on the training split (the ``train`` section:
   steps, batch size, learning rate and seed as the default profile's), recording the training
   loop's wall time and the generator's parameter count;
2. fits the latent prior (:func:`ganlib.models.prior.fit`) that the model's files are coded under. The
   default chain fits it to the hybrid search's latents, which needs an encoder; the study trains
   none, so it fits it to the latents that a short random-start search (the ``prior`` section: loss,
   steps, restarts) finds for ``prior.images`` training images drawn by :func:`ganlib.models.prior.fit_ids`
   (never an evaluation image). The prior changes the files' length only, never the decoded image;
3. compresses the default run's unseen evaluation images (the ``data`` section, equal to the
   default profile's, gives the same images, checked against the baselines' image ids) through the
   real codec, :class:`ganlib.codecs.gan.GanCodec` with the ``invert`` section's search (that of the
   default profile's ``invert_unseen``) at every bit depth, writing each file, reading it back and
   scoring the decoded image (:func:`ganlib.pipeline.stages.latent_files`, as 03_invert does).

Each model's results are kept in ``runs/<profile>/<model>/``, a run directory
(:class:`ganlib.core.paths.RunDir`: ``generator.safetensors``, ``prior.json``, the latent files
``latents/unseen/b<bits>/<id>.gan``), with ``rd.csv`` (one row per bit depth and image) and ``result.json``;
a model whose ``result.json`` was made with the same settings is not run again, and a generator
trained with the same settings is not trained again, so an interrupted study resumes.

``reports/<profile>/study.csv`` has one row per model, in the profile's order: ``model``,
``latent_dim``, ``width``, ``steps``, ``generator_parameters``, ``train_seconds`` (the training
loop), ``torch_threads``, ``cpu_cores`` and ``load_average`` (the machine's 1-minute load average
when training ended: above the core count, something else competed for the CPU), ``eval_seconds``
(prior fit, search, refinement, files and scoring), ``fingerprint`` (the generator's), ``n_images``, ``gan_bits``
and at that bit depth ``bytes``, ``bpp``, ``ssim``, ``psnr``, ``ms_ssim`` (means over the images);
``ssim_float`` and ``psnr_float``, the same for the unquantized latent (the generator's ceiling
under this search); then for each baseline family F of the baselines file (in registry order) and
metric M of ``ssim``, ``psnr``: ``bd_M_F``, GAN reversal's Bjøntegaard delta rate against F in
percent (negative: fewer bits at equal quality), computed exactly as the report's BD-rate table
(:func:`ganlib.evaluation.analysis.curves`, :func:`ganlib.evaluation.analysis.bd_rate_table`, whole files, unseen
images), and ``bd_M_F_note``, why it is empty (a key of :data:`ganlib.evaluation.analysis.NOTES`).
``python -m ganlib.report reports/study --results docs/results.md`` writes its block ``study`` of
docs/results.md (:func:`ganlib.report.document.study_markdown`).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ganlib.codecs import families
from ganlib.codecs.gan import GanCodec
from ganlib.core import files, params, paths, runtime
from ganlib.data import datasets
from ganlib.evaluation import analysis, metrics
from ganlib.formats import latent_format
from ganlib.inversion import invert
from ganlib.models import checkpoints, gan_training, prior
from ganlib.models.nets import GanConfig
from ganlib.pipeline import profiles, stages

PROFILE = "study"
CSV = "study.csv"
SPLIT = "unseen"
QUALITY = ("ssim", "psnr")  # the metrics of the BD-rate columns
SECTIONS = ("data", "train", "models", "prior", "invert", "table")
DATA_KEYS = ("dataset", "data_dir", "image_size", "channels", "unseen_fraction", "n_images", "n_eval", "seed")
TRAIN_KEYS = ("steps", "batch_size", "lr", "seed")
MODEL_KEYS = ("latent_dim", "width", "steps", "lr")
PRIOR_KEYS = ("images", "loss", "steps", "restarts", "seed")
INVERT_KEYS = ("loss", "steps", "restarts", "lr", "refine_steps", "refine_lr", "n_images", "bits", "seed")
TABLE_KEYS = ("gan_bits",)
TRAIN_INFO = ("train_seconds", "load_average", "torch_threads", "cpu_cores")  # how a generator's training went
RESULT, RD = "result.json", "rd.csv"  # a model's row and its per-image rows, in its run directory
PRIOR_BATCH = 256  # training images searched at once for the prior


RD_COLUMNS = [c for c in analysis.RD_COLUMNS if c != "search_subset"]  # rd.csv's columns that the study reads


def default_baselines() -> Path:
    """The default run's per-image table: ``reports/default/rd.csv`` in the work directory."""
    return paths.work_dir() / "reports" / "default" / "rd.csv"


# ------------------------------------------------------------------ settings
@dataclass(frozen=True)
class Model:
    """One model of the sweep: its generator's shape, its number of training steps and, when it
    differs from the ``train`` section's, its learning rate."""

    latent_dim: int
    width: int
    steps: int
    lr: float | None = None

    @property
    def id(self) -> str:
        return f"z{self.latent_dim}_w{self.width}_s{self.steps}" + (f"_lr{self.lr:g}" if self.lr is not None else "")

    def train_lr(self, train_section: dict) -> float:
        return self.lr if self.lr is not None else train_section["lr"]

    def config(self, image_size: int, channels: int) -> GanConfig:
        return GanConfig(latent_dim=self.latent_dim, width=self.width, image_size=image_size, channels=channels)


@dataclass(frozen=True)
class Settings:
    """A study's settings, checked (:func:`check_settings`)."""

    data: dict
    train: dict
    models: tuple[Model, ...]
    prior: dict
    invert: invert.InversionConfig
    bits: tuple[int, ...]
    n_images: int
    gan_bits: int

    def key(self, model: Model, what: str = "result") -> str:
        """The settings a cached result (``what="result"``) or generator (``"generator"``) depends on."""
        parts = {"data": self.data, "train": {**self.train, "steps": model.steps, "lr": model.train_lr(self.train)},
                 "model": {"latent_dim": model.latent_dim, "width": model.width}}
        if what == "result":
            parts |= {"prior": self.prior, "invert": self.invert.to_dict(), "bits": list(self.bits),
                      "n_images": self.n_images, "latent_format_version": latent_format.VERSION}
        return json.dumps(parts, sort_keys=True)


def _section(raw: dict, name: str, keys, where: str) -> dict:
    section = raw.get(name)
    if not isinstance(section, dict):
        raise ValueError(f"{where}: section {name!r} is missing or not a mapping of parameter names to values")
    message = params.unknown_names(list(section), keys, f"in section {name!r}")
    if message:
        raise ValueError(f"{where}: {message}")
    return dict(section)


def check_settings(raw, where: str = "study settings") -> Settings:
    """Validate the sections of a study profile (:data:`SECTIONS`); ``ValueError`` naming the
    parameter (and ``where``, e.g. the file) otherwise."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must be a mapping of section names to sections; got {type(raw).__name__}")
    message = params.unknown_names(list(raw), SECTIONS, "(a section)")
    if message:
        raise ValueError(f"{where}: {message}")
    d = _section(raw, "data", DATA_KEYS, where)
    d.setdefault("dataset", "fashion_mnist")
    d.setdefault("data_dir", "")
    d.setdefault("unseen_fraction", 0.1)
    d.setdefault("n_images", datasets.SHAPES_IMAGES)
    for key in ("image_size", "channels", "n_eval", "seed"):
        if key not in d:
            raise ValueError(f"{where}: section 'data' needs {key!r}")
    data_dir = str(paths.project_root() / d["data_dir"]) if d["data_dir"] else None
    datasets.check_params(d["dataset"], data_dir, d["image_size"], d["channels"], d["seed"], d["unseen_fraction"],
                      d["n_images"])
    params.int_range("n_eval", d["n_eval"], 1, 10**6)
    t = _section(raw, "train", TRAIN_KEYS, where)
    for key in TRAIN_KEYS:
        if key not in t:
            raise ValueError(f"{where}: section 'train' needs {key!r}")
    gan_training.check_params(t["steps"], t["batch_size"], t["lr"])
    params.int_range("seed", t["seed"], 0, 2**63 - 1)
    models = raw.get("models")
    if not isinstance(models, list) or not models:
        raise ValueError(f"{where}: models={models!r} is not allowed; give a list of models, each a mapping with "
                         "latent_dim and width (and optionally steps)")
    sweep = []
    for m in models:
        if not isinstance(m, dict):
            raise ValueError(f"{where}: models: {m!r} is not allowed; each model is a mapping with latent_dim and "
                             "width (and optionally steps)")
        message = params.unknown_names(list(m), MODEL_KEYS, "in a model of 'models'")
        if message:
            raise ValueError(f"{where}: {message}")
        for key in ("latent_dim", "width"):
            if key not in m:
                raise ValueError(f"{where}: models: {m!r} needs {key!r}")
        model = Model(m["latent_dim"], m["width"], m.get("steps", t["steps"]), m.get("lr"))
        model.config(d["image_size"], d["channels"])  # latent_dim and width checked by GanConfig
        gan_training.check_params(model.steps, t["batch_size"], model.train_lr(t))
        if model in sweep:
            raise ValueError(f"{where}: models: {m!r} is listed twice")
        sweep.append(model)
    p = _section(raw, "prior", PRIOR_KEYS, where)
    p = {"images": 512, "loss": "ssim", "steps": 200, "restarts": 2, "seed": 0, **p}
    params.int_range("images", p["images"], 2, 10**6)
    invert.InversionConfig(loss=p["loss"], steps=p["steps"], restarts=p["restarts"], refine_steps=0, seed=p["seed"])
    i = _section(raw, "invert", INVERT_KEYS, where)
    for key in ("n_images", "bits"):
        if key not in i:
            raise ValueError(f"{where}: section 'invert' needs {key!r}")
    n_images, bits = i.pop("n_images"), i.pop("bits")
    params.int_range("n_images", n_images, 1, d["n_eval"])
    bits = invert.check_bits(bits)
    config = invert.InversionConfig(**i)
    gan_bits = _section(raw, "table", TABLE_KEYS, where).get("gan_bits", max(bits))
    params.int_range("gan_bits", gan_bits, 1, 16)
    if gan_bits not in bits:
        raise ValueError(f"{where}: gan_bits={gan_bits!r} is not allowed; choose one of the bit depths of section "
                         f"'invert': {', '.join(map(str, bits))}")
    return Settings(d, t, tuple(sweep), p, config, tuple(bits), n_images, gan_bits)


def load_settings(profile: str = PROFILE) -> Settings:
    """The settings in ``params/<profile>.yaml``, checked."""
    params.slug("profile", profile)
    path = paths.profile_path(profile)
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yaml") if profiles.STUDY_SECTION in (_read(p) or {}))
        raise ValueError(f"profile={profile!r} is not allowed; {paths.relative(path)} does not exist "
                         f"(study profiles: {', '.join(known) or 'none'})")
    raw = _read(path)
    if isinstance(raw, dict) and profiles.STUDY_SECTION not in raw:
        raise ValueError(f"profile={profile!r} is not allowed; {paths.relative(path)} is a profile of the notebook "
                         "chain (make report), not a study: it has no 'models' section")
    return check_settings(raw, paths.relative(path))


def _read(path: Path):
    return params.read_yaml(path)


# ------------------------------------------------------------------ inputs
def load_arrays(settings: Settings) -> dict[str, np.ndarray]:
    """The data set of the ``data`` section, with the evaluation images' ids, as 01_data prepares it
    (so the default profile's data section gives the default run's images)."""
    d = settings.data
    data_dir = str(paths.project_root() / d["data_dir"]) if d["data_dir"] else None
    loaded = stages.data_arrays(d["dataset"], data_dir, d["image_size"], d["channels"], d["seed"], d["unseen_fraction"],
                                d["n_images"], d["n_eval"])
    return {k: np.array(v) for k, v in loaded.items()}  # writable copies (IDX arrays are read-only buffers)


def read_baselines(path: str | Path, image_ids) -> pd.DataFrame:
    """The baselines' rows of a run's rd.csv on the unseen images (every codec but GAN reversal and
    its layered codecs).
    ``ValueError`` unless every codec was measured on exactly ``image_ids``."""
    path = paths.require(Path(path), "notebooks/05_results.ipynb (make report)")
    rd = pd.read_csv(path)
    missing = [c for c in RD_COLUMNS if c not in rd]
    if missing:
        raise ValueError(f"baselines={paths.relative(path)!r} is not allowed; it has no column(s) "
                         f"{', '.join(missing)} (give an rd.csv written by 05_results)")
    gan = [f.id for f in families.FAMILIES.values() if f.kind in (families.GAN, families.LAYERED)]
    rows = rd[(rd.split == SPLIT) & ~rd.codec.isin(gan)].reset_index(drop=True)
    if rows.empty:
        raise ValueError(f"baselines={paths.relative(path)!r} is not allowed; it has no baseline rows on unseen images")
    want = set(int(i) for i in image_ids)
    for family, group in rows.groupby("codec"):
        if set(group.image_id.astype(int)) != want:
            raise ValueError(f"baselines={paths.relative(path)!r} is not allowed; its {family} rows are on other "
                             f"unseen images than the study's {len(want)} (the data section must equal that run's, "
                             "and invert.n_images its number of unseen images)")
    return rows


# ------------------------------------------------------------------ one model
def _load_average() -> float:
    try:
        return float(os.getloadavg()[0])
    except OSError:
        return float("nan")


def trained(settings: Settings, model: Model, arrays: dict, directory: Path, progress: bool = True
            ) -> tuple[torch.nn.Module, dict]:
    """The model's generator, trained here or (same settings) read back from ``directory``, and
    ``{"train_seconds", "load_average", "torch_threads"}`` of its training."""
    key = settings.key(model, "generator")
    meta_path = paths.RunDir(directory).generator_config
    if paths.RunDir(directory).generator.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("study_key") == key:
            return checkpoints.load_generator(directory), {k: meta[k] for k in TRAIN_INFO}
    t = settings.train
    config = model.config(settings.data["image_size"], settings.data["channels"])
    G, hist = gan_training.train_gan(arrays["train"], config, model.steps, t["batch_size"], model.train_lr(t),
                                     t["seed"], n_snapshots=0, progress=progress)
    info = {"train_seconds": round(hist["seconds"], 1), "load_average": round(_load_average(), 2),
            "torch_threads": torch.get_num_threads(), "cpu_cores": os.cpu_count() or 0}
    checkpoints.save_generator(directory, G, extra={"steps": model.steps, "batch_size": t["batch_size"],
                                              "lr": model.train_lr(t), "seed": t["seed"], "study_key": key, **info,
                                              "generator_parameters": sum(p.numel() for p in G.parameters())})
    return checkpoints.load_generator(directory), info


def fit_prior(settings: Settings, G, arrays: dict, progress: bool = True) -> latent_format.LatentModel:
    """The model's latent prior: fitted to the latents a short random-start search (the ``prior``
    section) finds for ``prior.images`` training images that are not evaluation images."""
    p = settings.prior
    runtime.setup(p["seed"])
    config = invert.InversionConfig(loss=p["loss"], steps=p["steps"], restarts=p["restarts"], refine_steps=0,
                                    seed=p["seed"], z_range=settings.invert.z_range)
    images = arrays["train"][prior.fit_ids(arrays, p["images"], p["seed"])]
    chunks = [invert.invert(G, runtime.to_tensor(images[i:i + PRIOR_BATCH]), config, progress=False).z.numpy()
              for i in runtime.progress(range(0, len(images), PRIOR_BATCH), desc="prior latents", disable=not progress)]
    return prior.fit(np.concatenate(chunks), G, settings.invert.z_range)


def compress(settings: Settings, G, model: latent_format.LatentModel, originals: np.ndarray, ids, directory: Path,
             progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Compress ``originals`` (unseen images ``ids``) at every bit depth through the codec, as 03_invert
    does: one search, then :func:`ganlib.pipeline.stages.latent_files` (refinement per bit depth, each
    file written to ``directory/latents/unseen/b<bits>/<id>.gan``, read back, decoded and scored; no
    rounded control). Returns rd.csv rows (:data:`ganlib.evaluation.RD_COLUMNS`) and the
    means of the unquantized latent's images (``ssim_float``, ``psnr_float``)."""
    runtime.setup(settings.invert.seed)
    gan = GanCodec(G, max(settings.bits), settings.invert, progress=progress, prior=model)
    result = gan.search(originals)
    with torch.no_grad():
        floats = runtime.to_uint8(gan.G(result.z))

    ceiling = {"ssim_float": float(np.mean([metrics.ssim(o, f) for o, f in zip(originals, floats)])),
               "psnr_float": float(np.mean([metrics.psnr(o, f) for o, f in zip(originals, floats)]))}
    found, _ = stages.latent_files(gan, originals, ids, result, settings.bits, directory, SPLIT, rounded=False)
    rows = [{"codec": "gan", "param": r["bits"], "split": SPLIT, **r} for r in found]
    return pd.DataFrame(rows)[RD_COLUMNS], ceiling


def model_result(settings: Settings, model: Model, arrays: dict, directory: Path, progress: bool = True
                 ) -> tuple[dict, pd.DataFrame]:
    """One model's row (without BD-rates) and its rd.csv rows; read back from ``directory`` when
    its ``result.json`` was made with the same settings, else computed there."""
    key = settings.key(model)
    result_path, rd_path = Path(directory) / RESULT, Path(directory) / RD
    if result_path.is_file() and rd_path.is_file():
        found = json.loads(result_path.read_text())
        if found.get("study_key") == key:  # (rows cached before the lr column lack it; the key holds it)
            return {**found["row"], "lr": model.train_lr(settings.train)}, pd.read_csv(rd_path)
    G, info = trained(settings, model, arrays, directory, progress)
    started = time.perf_counter()
    latent_model = fit_prior(settings, G, arrays, progress)
    prior.save(directory, latent_model, {"images": settings.prior["images"], "images_from": "train minus seen_ids",
                                         "search": f"random starts, loss {settings.prior['loss']}, "
                                                   f"{settings.prior['steps']} steps x {settings.prior['restarts']}",
                                         "seed": settings.prior["seed"]})
    ids = arrays[f"{SPLIT}_ids"][:settings.n_images]
    rd, ceiling = compress(settings, G, latent_model, arrays["test"][ids], ids, directory, progress)
    at = rd[rd.param == settings.gan_bits]
    row = {"model": model.id, "latent_dim": model.latent_dim, "width": model.width, "steps": model.steps,
           "lr": model.train_lr(settings.train),
           "generator_parameters": sum(p.numel() for p in G.parameters()), **info,
           "eval_seconds": round(time.perf_counter() - started, 1), "fingerprint": checkpoints.fingerprint(G).hex(),
           "n_images": len(ids), "gan_bits": settings.gan_bits,
           **{m: float(at[m].mean()) for m in ("bytes", "bpp", "ssim", "psnr", "ms_ssim")}, **ceiling}
    files.write_csv(rd_path, rd)
    files.write_text(result_path, json.dumps({"study_key": key, "row": row}, indent=1))
    return row, pd.read_csv(rd_path)


# ------------------------------------------------------------------ the table
def bd_column(metric: str, family: str) -> str:
    """The study.csv column of GAN reversal's BD-rate against ``family`` at equal ``metric``."""
    return f"bd_{metric}_{family}"


def bd_rates(rd: pd.DataFrame, baselines: pd.DataFrame) -> dict:
    """BD-rate columns of one model (:func:`bd_column` and its ``_note``) against every baseline
    family, computed as 05_results does (:func:`ganlib.evaluation.analysis.bd_rate_table` on
    :func:`ganlib.evaluation.analysis.curves`, whole-file bits per pixel)."""
    curves = analysis.curves(pd.concat([rd[RD_COLUMNS], baselines[RD_COLUMNS]],
                                       ignore_index=True))
    table = analysis.bd_rate_table(curves, QUALITY)
    out = {}
    for r in table.itertuples():
        for m in QUALITY:
            value = getattr(r, m)
            out[bd_column(m, r.codec)] = float(value)
            out[bd_column(m, r.codec) + "_note"] = getattr(r, f"{m}_note") if not np.isfinite(value) else None
    return out


def run(settings: Settings, arrays: dict, baselines: pd.DataFrame, run_dir: str | Path, out_csv: str | Path,
        progress: bool = True, log=print) -> pd.DataFrame:
    """Run (or resume) the study: every model in ``run_dir/<model>/``, the table written to
    ``out_csv`` atomically and returned as read back."""
    rows = []
    bar = runtime.progress(settings.models, desc="study models", disable=not progress)
    for model in bar:
        row, rd = model_result(settings, model, arrays, Path(run_dir) / model.id, progress)
        rows.append({**row, **bd_rates(rd, baselines)})
        log(f"{model.id}: {row['generator_parameters']:,} generator parameters, trained in "
            f"{row['train_seconds']:.0f} s (load {row['load_average']:.1f}), fingerprint {row['fingerprint']}; "
            f"{settings.gan_bits} bits: {row['bpp']:.3f} bpp, SSIM {row['ssim']:.3f}, PSNR {row['psnr']:.2f} dB "
            f"(unquantized: SSIM {row['ssim_float']:.3f}, PSNR {row['psnr_float']:.2f} dB)")
    table = pd.DataFrame(rows)
    order = families.order(baselines.codec)
    bd = [c for f in order for m in QUALITY for c in (bd_column(m, f), bd_column(m, f) + "_note")]
    table = table[[c for c in table if not c.startswith("bd_")] + [c for c in bd if c in table]]
    files.write_csv(out_csv, table)
    return pd.read_csv(out_csv)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganlib.pipeline.study", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default=PROFILE, help="the study's settings: params/<profile>.yaml (default "
                        f"{PROFILE}); outputs go to runs/<profile>/ and reports/<profile>/{CSV}")
    parser.add_argument("--baselines", metavar="RD_CSV", help="the run whose codecs the models are compared with "
                        "(default: reports/default/rd.csv)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        settings = load_settings(args.profile)
        arrays = load_arrays(settings)
        ids = arrays[f"{SPLIT}_ids"][:settings.n_images]
        baselines = read_baselines(args.baselines or default_baselines(), ids)
        out = paths.report_dir(args.profile) / CSV
        source = paths.relative(args.baselines or default_baselines())
        print(f"{len(settings.models)} models, {len(ids)} unseen images, bits {list(settings.bits)}; baselines "
              f"{', '.join(families.order(baselines.codec))} from {source}", flush=True)
        run(settings, arrays, baselines, paths.run_dir(args.profile), out, progress=not args.no_progress,
            log=lambda s: print(s, flush=True))
    except (ValueError, FileNotFoundError, datasets.DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    minutes, seconds = divmod(round(time.perf_counter() - started), 60)
    print(f"wrote {paths.relative(out)} in {minutes} min {seconds} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
