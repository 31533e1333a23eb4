"""Ship a run's trained models, with a model card, as the command line's default model.

    python -m ganlib.pipeline.ship [--profile default] [-o models]        (or: make models)

Copies the generator, the encoder and the fitted latent prior of ``runs/<profile>/``, and its
learned residual coders when 04b has trained them (``residual.json`` and
``learned/conditional_lambda_<λ>.safetensors``: the layered rungs of ``compress --target``), into
OUT (default: ``models/`` at the project root, which ``python -m ganlib compress`` uses when no
``--run`` is given) and writes ``OUT/README.md``: the data, the training budget, the seeds, the
commit that trained them and the report's numbers, all read from the run's files.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from ganlib.core import files, paths
from ganlib.evaluation import tradeoff
from ganlib.models import encoder
from ganlib.pipeline import profiles

SHIPPED = (paths.GENERATOR_CONFIG, paths.GENERATOR, paths.PRIOR, paths.ENCODER_CONFIG, paths.ENCODER)  # weights last


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
        "use when no `--run` is given. Written by `make models` (`python -m ganlib.pipeline.ship`) from "
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


def residual_coders(run: Path) -> list[str]:
    """The run's residual coder files relative to it, then ``residual.json`` (last: it names them); none
    when 04b has not run."""
    run = paths.RunDir(run)
    if not run.residual_meta.is_file():
        return []
    meta = files.read_json(run.residual_meta)
    coders = [run.learned_model("conditional", r["lambda"]).relative_to(run.root).as_posix() for r in meta["runs"]]
    return [*coders, paths.RESIDUAL_META]


def ship(profile: str, out: Path) -> Path:
    """Copy the run's models into ``out`` (each atomically, weights before the JSON that names them)
    and write its model card."""
    run = paths.work_dir() / "runs" / profile
    for name in [*SHIPPED, *residual_coders(run)]:
        source = paths.require(run / name, f"make encoder PROFILE={profile}")
        with files.atomic_path(out / name) as tmp:
            shutil.copyfile(source, tmp)
    files.write_text(out / "README.md", card(profile, run, paths.work_dir() / "reports" / profile))
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
