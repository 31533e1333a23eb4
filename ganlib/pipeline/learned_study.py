"""The learned codecs' convergence study (issue 17): how far from converged the learned baselines
are, and the models the default chain compares GAN reversal with.

``python -m ganlib.pipeline.learned_study [--settings params/learned.yaml]`` (``make learned``)
reads its settings (not a profile of the notebook chain) and the data of the run
``data_profile`` (its training split and unseen evaluation images). For each series (a model,
a distortion, a width n/m, a number of steps) and each λ of its distortion it trains one model
(:func:`ganlib.models.learned.train_learned`, batch ``batch_size``, cosine-decayed learning rate
over the series' steps) and keeps a snapshot after every halving of the steps (3 of them). Every
snapshot is scored as the chain scores a codec: the first ``eval_images`` unseen evaluation images
are encoded with the model's real ``compress()``, decoded and scored (:func:`ganlib.evaluation.scoring.score_files`).

A snapshot's budget is the first k steps of its series' run (not a run of k steps: its learning
rate has not decayed yet), so the distance it shows from the end of the run is an upper bound.

Outputs:

- ``runs/learned/<series>/<family>_lambda_<λ>.json`` (the job's rows) and ``.safetensors`` (its
  final weights), so an interrupted study resumes;
- ``reports/learned/convergence.csv``: one row per series, λ and snapshot (``family``, ``model``,
  ``distortion``, ``n``, ``m``, ``steps`` of the series, ``step`` of the snapshot, ``lambda``,
  ``seconds`` of the whole job, ``n_images`` and the means ``bpp``, ``psnr``, ``ssim``, ``ms_ssim``);
- ``reports/learned/convergence_bd.csv`` (:func:`convergence`);
- ``models/learned/<family>_lambda_<λ>.safetensors`` and ``models/learned.json``: the final models of
  each family's longest series, with their size, budget, the data's fingerprint and their
  measured distance from convergence, which the default chain's 04_baselines loads.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ganlib.codecs.learned import Learned
from ganlib.core import files, params, paths, runtime
from ganlib.data import datasets
from ganlib.evaluation import analysis, metrics, scoring
from ganlib.models import learned

SETTINGS = "params/learned.yaml"
NAME = "learned"  # runs/learned/ and reports/learned/
HALVINGS = 3  # snapshots: the series' steps and 3 halvings of them (4000: 500, 1000, 2000, 4000)
TRAINED_FOR = {"mse": "psnr", "ssim": "ssim"}  # the metric each distortion's convergence is judged by


@dataclass(frozen=True)
class Series:
    model: str
    distortion: str
    n: int
    m: int
    steps: int
    lambdas: tuple[float, ...] = ()  # empty: the distortion's
    init: str = ""  # the id of a series whose final models this one starts from, λ by λ in order (fine-tuning)
    lr: float | None = None  # None: the settings' learning rate

    @property
    def family(self) -> str:
        return learned.family_id(self.model, self.distortion)

    @property
    def id(self) -> str:
        return f"{self.family}_n{self.n}_m{self.m}_s{self.steps}"

    @property
    def snapshots(self) -> list[int]:
        """The series' steps and :data:`HALVINGS` halvings of them, ascending."""
        return sorted({max(1, self.steps >> k) for k in range(HALVINGS + 1)})


def check_settings(raw: dict, where: str = SETTINGS) -> dict:
    """The study's settings, checked (ValueError naming the first bad one)."""
    keys = {"data_profile", "eval_images", "batch_size", "lr", "down", "seed", "lambdas", "series"}
    if not isinstance(raw, dict) or set(raw) != keys:
        raise ValueError(f"{where}: needs exactly the keys {sorted(keys)}")
    params.slug("data_profile", raw["data_profile"])
    params.int_range("eval_images", raw["eval_images"], 1, 10**5)
    params.int_range("batch_size", raw["batch_size"], 1, 4096)
    params.positive("lr", raw["lr"])
    params.int_range("down", raw["down"], 1, 4)
    params.int_range("seed", raw["seed"], 0, 2**31 - 1)
    lambdas = raw["lambdas"]
    if not isinstance(lambdas, dict) or not set(lambdas) <= set(learned.DISTORTIONS):
        raise ValueError(f"{where}: lambdas must map distortions ({', '.join(learned.DISTORTIONS)}) to lists")
    for d, values in lambdas.items():
        if not isinstance(values, list) or len(values) < 2:
            raise ValueError(f"lambdas.{d}: give at least two (a curve)")
        for v in values:
            params.positive(f"lambdas.{d}", v)
    series = []
    for s in raw["series"]:
        needed = {"model", "distortion", "n", "m", "steps"}
        if not isinstance(s, dict) or not needed <= set(s) <= needed | {"lambdas", "init", "lr"}:
            raise ValueError(f"{where}: each series needs model, distortion, n, m and steps (and may give lambdas, "
                             f"init and lr); got {s!r}")
        if "lr" in s:
            params.positive("series.lr", s["lr"])
        for v in s.get("lambdas", []):
            params.positive("series.lambdas", v)
        params.choice("series.model", s["model"], learned.MODELS)
        params.choice("series.distortion", s["distortion"], tuple(lambdas))
        for k in ("n", "m"):
            params.int_range(f"series.{k}", s[k], 1, 1024)
        params.steps("series.steps", s["steps"])
        series.append(Series(**{**s, "lambdas": tuple(s.get("lambdas", ()))}))
    ids = [s.id for s in series]
    for s in series:
        if s.init and (s.init not in ids or ids.index(s.init) >= ids.index(s.id)):
            raise ValueError(f"series.init={s.init!r} is not allowed; name a series listed before {s.id!r}")
    return {**raw, "series": series}


def score_model(model, family: str, lam: float, originals: np.ndarray) -> dict:
    """Means over ``originals`` of the files of ``model`` as a codec: bytes, bpp, psnr, ssim, ms_ssim."""
    codec = Learned(model, lam, originals.shape[1:], learned.parse_family(family)[1])
    rows, _ = scoring.score_files(codec, [codec.encode(im) for im in originals], originals)
    table = pd.DataFrame(rows)
    return {"n_images": len(table), **{k: float(table[k].mean()) for k in ("bytes", "bpp", "psnr", "ssim", "ms_ssim")}}


def _lambdas(s: Series, settings: dict) -> list:
    """The trade-offs series ``s`` trains at: its own, else its distortion's in the settings."""
    return list(s.lambdas or settings["lambdas"][s.distortion])


def run(settings: dict, arrays: dict, run_dir: Path, log=print) -> pd.DataFrame:
    """Train (or resume) every series at every λ and score its snapshots; the rows of convergence.csv."""
    originals = arrays["test"][arrays["unseen_ids"][:settings["eval_images"]]]
    jobs, pending = [], []
    by_id = {s.id: s for s in settings["series"]}
    for s in settings["series"]:
        lambdas = _lambdas(s, settings)
        for k, lam in enumerate(lambdas):
            stem = run_dir / s.id / f"{s.family}_lambda_{lam}"
            job = {"images": arrays["train"], "lam": lam, "steps": s.steps, "batch_size": settings["batch_size"],
                   "lr": s.lr or settings["lr"], "seed": settings["seed"], "n": s.n, "m": s.m, "model": s.model,
                   "down": settings["down"], "distortion": s.distortion, "snapshots": s.snapshots}
            if s.init:
                source = by_id[s.init]
                start = _lambdas(source, settings)[k]
                job["init"] = str(run_dir / source.id / f"{source.family}_lambda_{start}.safetensors")
            jobs.append((s, lam, stem))
            if not Path(f"{stem}.json").is_file():
                pending.append((s, lam, stem, job))
    log(f"{len(jobs)} models, {len(pending)} to train; {len(originals)} unseen images scored per snapshot")
    while pending:  # a series that starts from another's models waits for them
        ready = [p for p in pending if "init" not in p[3] or Path(p[3]["init"]).is_file()]
        pending = [p for p in pending if p not in ready]
        _train(ready, originals, log)
    return pd.DataFrame([r for _, _, stem in jobs for r in json.loads(Path(f"{stem}.json").read_text())])


def _train(ready: list, originals: np.ndarray, log) -> None:
    """Train the jobs of :func:`run` (series, λ, file stem, job), score their snapshots, write their files."""
    for i, model, hist in learned.train_each([job for *_, job in ready], desc="train learned codecs"):
        s, lam, stem, job = ready[i]
        rows = []
        for step, state in sorted(hist["snapshots"].items()):
            scored = score_model(learned.trained_model(job, state), s.family, lam, originals)
            rows.append({"family": s.family, "model": s.model, "distortion": s.distortion, "n": s.n, "m": s.m,
                         "steps": s.steps, "step": step, "lambda": lam, "seconds": round(hist["seconds"], 1),
                         **scored})
        learned.save(Path(f"{stem}.safetensors"), model)
        files.write_text(Path(f"{stem}.json"), json.dumps(rows, indent=1))  # last: the job is complete
        log(f"{s.id} λ={lam:g}: {hist['seconds']:.0f} s; final {rows[-1]['bpp']:.3f} bpp, "
            f"PSNR {rows[-1]['psnr']:.2f} dB, SSIM {rows[-1]['ssim']:.4f}")


def convergence(table: pd.DataFrame) -> pd.DataFrame:
    """Per series (family, n, m, steps) and snapshot ``step``, for each metric M of psnr, ssim and
    ms_ssim: ``bd_M_final``, the snapshot's Bjøntegaard delta rate (percent) against the series'
    last snapshot (positive: it needs that many more bits at equal quality), and
    ``bd_M_doubled``, the snapshot at twice this step against this one (what doubling the budget
    from here saves; negative: fewer bits; NaN for the last). ``trained_for``: the metric of the
    series' distortion, by which its convergence is judged."""
    rows = []
    for (family, n, m, steps), g in table.groupby(["family", "n", "m", "steps"], sort=False):
        curve = {step: c.sort_values("lambda") for step, c in g.groupby("step")}
        last = max(curve)
        for step, c in curve.items():
            row = {"family": family, "n": n, "m": m, "steps": steps, "step": step,
                   "trained_for": TRAINED_FOR[learned.parse_family(family)[1]]}
            for metric in analysis.QUALITY:
                f = curve[last]
                row[f"bd_{metric}_final"] = metrics.bd_rate(f.bpp, f[metric], c.bpp, c[metric])
                d = curve.get(2 * step)
                row[f"bd_{metric}_doubled"] = np.nan if d is None else metrics.bd_rate(c.bpp, c[metric], d.bpp,
                                                                                      d[metric])
            rows.append(row)
    return pd.DataFrame(rows)


def _seconds(table: pd.DataFrame, s: Series, lam: float) -> float:
    """The training time of series ``s`` at ``lam`` in convergence.csv's rows."""
    mine = table[(table.family == s.family) & (table.steps == s.steps) & (table.n == s.n) & (table["lambda"] == lam)]
    return float(mine.seconds.iloc[0])


def ship(settings: dict, table: pd.DataFrame, bd: pd.DataFrame, run_dir: Path, out: Path, fingerprint: str) -> dict:
    """Copy the final models of each family's longest series to ``out/learned/`` and write
    ``out/learned.json`` (the chain's 04_baselines loads them); returns that JSON."""
    chosen = {}
    for s in settings["series"]:
        best = chosen.get(s.family)
        if best is None or (s.steps, s.n, s.m) > (best.steps, best.n, best.m):
            chosen[s.family] = s
    sizes = {(s.n, s.m) for s in chosen.values()}
    if len(sizes) != 1:
        raise ValueError(f"the shipped series must share one width n/m; got {sorted(sizes)}")
    runs, distance = [], {}
    for family, s in chosen.items():
        source = next((x for x in settings["series"] if x.id == s.init), None)
        lambdas = _lambdas(s, settings)
        for k, lam in enumerate(lambdas):
            src = run_dir / s.id / f"{family}_lambda_{lam}.safetensors"
            with files.atomic_path(paths.RunDir(out).learned_model(family, lam)) as tmp:
                shutil.copyfile(src, tmp)
            row = {"model": family, "lambda": lam, "steps": s.steps, "batch_size": settings["batch_size"],
                   "lr": s.lr or settings["lr"], "seconds": _seconds(table, s, lam)}
            if source is not None:  # the budget counts the model it started from
                start = _lambdas(source, settings)[k]
                row = {**row, "steps": s.steps + source.steps,
                       "seconds": row["seconds"] + _seconds(table, source, start),
                       "fine_tuned_from": f"{source.family} λ={start:g}, {source.steps} steps"}
            runs.append(row)
        mine = bd[(bd.family == family) & (bd.steps == s.steps) & (bd.n == s.n)]
        half = mine[mine.step == s.steps // 2]
        metric = TRAINED_FOR[s.distortion]
        value = np.nan if half.empty else float(half[f"bd_{metric}_doubled"].iloc[0])
        distance[family] = {"metric": metric, "last_doubling_bd_rate": value if np.isfinite(value) else None}
    (n, m), = sizes
    meta = {"n": n, "m": m, "down": settings["down"], "compressai": learned.COMPRESSAI_VERSION,
            "data_profile": settings["data_profile"], "data_fingerprint": fingerprint,
            "made_by": "make learned (python -m ganlib.pipeline.learned_study)", "runs": runs,
            "convergence": distance}
    files.write_text(paths.RunDir(out).learned_meta, json.dumps(meta, indent=2))
    files.write_text(paths.RunDir(out).root / paths.LEARNED / "README.md", model_card(meta))
    return meta


def model_card(meta: dict) -> str:
    """``models/learned/README.md``: what the shipped learned codecs are, their budget and their
    distance from convergence, from ``learned.json``'s ``meta``."""
    lines = ["# The shipped learned codecs", "",
             f"Written by `{meta['made_by']}`; the numbers are in `../learned.json` and "
             "`reports/learned/` ([docs/results.md](../../docs/results.md#the-learned-codecs-convergence)).", "",
             f"CompressAI {meta['compressai']} models (`ganlib.models.learned`), width n/m = {meta['n']}/{meta['m']}, "
             f"{meta['down']} stride-2 stages, trained on the training split of the `{meta['data_profile']}` profile "
             f"(data fingerprint `{meta['data_fingerprint']}`, checked by the chain before it loads them). "
             "The default profile's 04_baselines loads them (`learned_from: models`).", "",
             "| family | λ | steps | batch | seconds |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['lambda']:g} | {r['steps']} | {r['batch_size']} | {r['seconds']:.0f} |"
              for r in meta["runs"]]
    lines += ["", "Distance from convergence: the BD-rate of each family's last snapshot against the snapshot at "
              "half its steps, at equal quality in the metric it was trained for (0: the last doubling of the "
              "budget saved nothing).", ""]
    lines += [f"- {family}: {d['last_doubling_bd_rate']:+.1f}% at equal {d['metric'].upper()}"
              for family, d in meta["convergence"].items() if d["last_doubling_bd_rate"] is not None]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganlib.pipeline.learned_study",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", default=SETTINGS, help=f"the study's settings (default {SETTINGS})")
    parser.add_argument("--ship", default="models", help="folder the final models go to (default models/)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        settings = check_settings(params.read_yaml(paths.project_root() / args.settings), args.settings)
        runtime.setup(settings["seed"], threads=1)  # this process scores while the workers train: one thread each
        arrays = datasets.load_prepared(settings["data_profile"])
        table = run(settings, arrays, paths.run_dir(NAME).root, log=lambda s: print(s, flush=True))
        report = paths.report_dir(NAME)
        files.write_csv(report / "convergence.csv", table)
        bd = convergence(table)
        files.write_csv(report / "convergence_bd.csv", bd)
        ship(settings, table, bd, paths.run_dir(NAME).root, paths.project_root() / args.ship,
             learned.data_fingerprint(arrays["train"]))
    except (ValueError, FileNotFoundError, datasets.DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    minutes, seconds = divmod(round(time.perf_counter() - started), 60)
    print(f"wrote {paths.relative(report)} and {args.ship}/learned in {minutes} min {seconds} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
