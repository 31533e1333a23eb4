"""Project paths. Every path the package uses derives from :func:`project_root`.

Outputs live under a *work directory*: the project root by default, or the
directory named by the environment variable ``GANLIB_WORKDIR`` (the end-to-end
test uses it to run the whole chain in a temporary directory).
"""
from __future__ import annotations

import os
from pathlib import Path

PROFILES_DIR = "params"

# The files of a run directory (runs/<profile>/, or the shipped models/), named once: the stages that
# write them and those that read them use these names.
DATA = "data.npz"  # 01: the images and the seen/unseen split
GENERATOR, GENERATOR_CONFIG = "generator.safetensors", "generator.json"  # 02: weights (last: complete) and config
TRAIN_HISTORY = "train_history.npz"  # 02: losses and snapshots
ENCODER, ENCODER_CONFIG = "encoder.safetensors", "encoder.json"  # 02b
PRIOR = "prior.json"  # 02b: the latent prior the files are coded under
INVERSIONS = ("seen", "unseen", "seen_ssim", "unseen_mse")  # 03 runs: invert_<name>.csv (the Makefile's list too)
LEARNED_META = "learned.json"  # 04: the learned codecs' size and training budget
RESIDUAL_META = "residual.json"  # 04b: the residual coders' base layer, size and training budget


def project_root() -> Path:
    """The repository root: the directory holding ``ganlib/`` and ``params/``."""
    return Path(__file__).resolve().parents[2]


def work_dir() -> Path:
    """Where ``runs/`` and ``reports/`` go (``$GANLIB_WORKDIR`` or the project root)."""
    env = os.environ.get("GANLIB_WORKDIR")
    return Path(env).resolve() if env else project_root()


def profile_path(profile: str) -> Path:
    """The papermill YAML profile ``params/<profile>.yaml``."""
    return project_root() / PROFILES_DIR / f"{profile}.yaml"


def run_dir(profile: str) -> Path:
    """``runs/<profile>/``: data, checkpoints and per-stage results (created if missing)."""
    path = work_dir() / "runs" / profile
    path.mkdir(parents=True, exist_ok=True)
    return path


def report_dir(profile: str) -> Path:
    """``reports/<profile>/``: executed notebooks, summary.csv and report.html."""
    path = work_dir() / "reports" / profile
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_cache_dir() -> Path:
    """``data/``: raw data fetched on demand (never modified once written)."""
    return work_dir() / "data"


def require(path: Path, made_by: str) -> Path:
    """Return ``path`` if it exists, else raise FileNotFoundError naming its producer."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path} is missing: it is written by {made_by}")
    return Path(path)


def relative(path: str | Path) -> str:
    """``path`` as printed in notebooks and reports: relative to the work directory (e.g.
    ``runs/default/data.npz``), else to the project root, else with the home directory as ``~``;
    never the machine's absolute path when it lies in one of those."""
    path = Path(path)
    for candidate in (path.absolute(), path.resolve()):
        for base in (work_dir(), project_root()):
            if candidate.is_relative_to(base):
                return candidate.relative_to(base).as_posix() or "."
    try:
        return "~/" + path.resolve().relative_to(Path.home().resolve()).as_posix()
    except (ValueError, RuntimeError):
        return path.as_posix()
