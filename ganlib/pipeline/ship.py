"""Ship a run's trained models, with a model card, as the command line's default model.

    python -m ganlib.pipeline.ship [--profile default] [-o models]        (or: make models)

Copies the generator (with its training history), the encoder and the fitted latent prior of
``runs/<profile>/``, its classifier when 02c has trained one, and its learned residual coders when
04b has trained them (``residual.json`` and ``learned/conditional_lambda_<λ>.safetensors``: the
layered rungs of ``compress --target``), into OUT (default: ``models/`` at the project root, which
``python -m ganlib compress`` uses when no ``--run`` is given, and which the default profile's
training stages load: ``trained_from: models``, :mod:`ganlib.pipeline.trained`). Writes
``OUT/trained.json`` (the training split's fingerprint, the profile, the commit) and
``OUT/README.md``: the data, the training budget, the seeds, the commit that trained them and the
report's numbers, all read from the run's files. A run that loaded its models from such a folder
(``trained_from``) is refused: ship the run that trained them.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ganlib.core import files, paths
from ganlib.evaluation import tradeoff
from ganlib.models import encoder
from ganlib.pipeline import profiles, trained


def commit() -> str:
    """The project's git commit (``unknown`` outside a git checkout), ``+changes`` if the tree is dirty."""
    def git(*args):
        return subprocess.run(["git", "-C", str(paths.project_root()), *args], capture_output=True, text=True,
                              timeout=30)
    head = git("rev-parse", "--short", "HEAD")
    if head.returncode:
        return "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return head.stdout.strip() + (" +uncommitted changes" if dirty else "")


def card(profile: str, run: Path, report: Path) -> str:
    """The model card (Markdown) of a run."""
    run = paths.RunDir(run)
    gen, enc = (json.loads(path.read_text()) for path in (run.generator_config, run.encoder_config))
    data = profiles.stage_params(profile, "data")
    size = gen["config"]["image_size"]
    lines = [
        f"# Shipped model: profile `{profile}`", "",
        "The generator G, the encoder E and the latent prior that `python -m ganlib compress` and `decompress` "
        "use when no `--run` is given, and the models that the default profile's training stages load rather than "
        "train (`trained_from: models`; `trained.json` holds the fingerprint of the training split they need). "
        "Written by `make models` (`python -m ganlib.pipeline.ship`) from "
        f"`runs/{profile}/` at commit {commit()}; the numbers below come from that run's report.", "",
        "| | |", "|---|---|",
        f"| data | {data.get('dataset', 'fashion_mnist')}, {size} x {size} x {gen['config']['channels']}, "
        "training split only |",
        f"| generator | DCGAN, latent_dim {gen['config']['latent_dim']}, width {gen['config']['width']}, "
        f"{gen.get('generator_parameters', 0):,} parameters, fingerprint `{gen['fingerprint']}` |",
        f"| GAN training | {gen.get('steps')} steps, batch {gen.get('batch_size')}, lr {gen.get('lr')}, seed "
        f"{gen.get('seed')}, {gen.get('seconds')} s on the machine of the report |",
        f"| encoder | {enc.get('encoder_parameters', 0):,} parameters; {enc.get('synthetic_steps')} steps on G's "
        "samples "
        f"+ {enc.get('real_steps')} on training images, batch {enc.get('batch_size')}, lr {enc.get('lr')}, seed "
        f"{enc.get('seed')}, {enc.get('seconds')} s |",
        f"| search metric | in the encoder's weights: the inverse of G's mean J^T J at E's guesses for "
        f"{encoder.METRIC_IMAGES} training images, the hybrid search's L-BFGS preconditioner |",
        f"| prior | `{paths.PRIOR}`: per-dimension density of inverted training latents |"]
    if run.classifier.is_file():
        cls = files.read_json(run.classifier_config)
        lines.append(f"| classifier | `{paths.CLASSIFIER}`: the realism study's feature network (02c), "
                     f"{cls['parameters']:,} parameters, {cls['steps']} steps of {cls['batch_size']}, lr {cls['lr']}, "
                     f"seed {cls['seed']}, {cls['seconds']} s; test accuracy {cls['test_accuracy']:.1%} |")
    if run.residual_meta.is_file():
        meta = files.read_json(run.residual_meta)
        lams = ", ".join(f"{r['lambda']:g}" for r in meta["runs"])
        lines.append(f"| residual coders | `{paths.RESIDUAL_META}` and `learned/conditional_lambda_<λ>.safetensors`: "
                     f"conditional factorized priors (n {meta['n']}, m {meta['m']}) at λ = {lams}, "
                     f"{meta['runs'][0]['steps']} steps each on the base layers ({meta['base_bits']} bits, loss "
                     f"`{meta['loss']}`) of {meta['train_images']} training images: the layered rungs of "
                     "`compress --target` |")
    lines.append("")
    summary = report / "summary.csv"
    if summary.is_file():
        gan = pd.read_csv(summary).query("scheme == 'gan'")
        lines += ["Report numbers (GAN reversal, latent search, files on disk):", "",
                  "| split | bpp | PSNR (dB) | SSIM |", "|---|---:|---:|---:|"]
        lines += [f"| {r.split} | {r.bpp:.3f} | {r.psnr:.2f} | {r.ssim:.3f} |" for r in gan.itertuples()]
        lines.append("")
    if run.tradeoff_csv.is_file():
        modes = tradeoff.summarize(pd.read_csv(run.tradeoff_csv)).query("split == 'unseen'")
        lines += ["Encoding modes on unseen images (03b; encode time on the report's machine):", "",
                  "| mode | encode ms per image | bpp | SSIM |", "|---|---:|---:|---:|"]
        lines += [f"| {r.label} | {r.encode_ms:.1f} | {r.bpp:.3f} | {r.ssim:.3f} |" for r in modes.itertuples()]
        lines.append("")
    return "\n".join(lines)


def shipped_files(run: Path) -> list[str]:
    """The files of the run's models, relative to it, in the order :func:`ship` copies them: the
    GAN's and the encoder's (required), the classifier's and the residual coders' (when their stages
    have run); each stage's make target last (:func:`ganlib.pipeline.trained.stage_files`)."""
    run = paths.RunDir(run)
    names = trained.stage_files(run, "train") + trained.stage_files(run, "encoder")
    if run.classifier.is_file():
        names += trained.stage_files(run, "classifier")
    return names + trained.stage_files(run, "residual")


def ship(profile: str, out: Path) -> Path:
    """Copy the run's models into ``out`` (each atomically), then write ``trained.json`` and the model card."""
    run = paths.RunDir(paths.work_dir() / "runs" / profile)
    if (run.root / trained.ADOPTED).is_file():
        raise ValueError(f"runs/{profile}/ loaded its models (trained_from: "
                         f"{files.read_json(run.root / trained.ADOPTED).get('from')}) rather than training them; "
                         "ship the run that trained them (e.g. make models PROFILE=full)")
    images = np.load(paths.require(run.data, f"make data PROFILE={profile}"))["train"]
    for name in shipped_files(run):
        source = paths.require(run.root / name, f"make encoder PROFILE={profile}")
        with files.atomic_path(out / name) as tmp:
            shutil.copyfile(source, tmp)
    files.write_text(out / trained.MANIFEST, json.dumps(trained.manifest(images, profile, commit()), indent=2))
    files.write_text(out / "README.md", card(profile, run.root, paths.work_dir() / "reports" / profile))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganlib.pipeline.ship", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="default", help="the run to ship: runs/<profile>/ (default: %(default)s)")
    parser.add_argument("-o", "--output", default=str(paths.project_root() / "models"),
                        help="directory to write (default: models/)")
    args = parser.parse_args(argv)
    try:
        print(f"wrote {paths.relative(ship(args.profile, Path(args.output)))}/")
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
