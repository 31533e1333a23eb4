"""Project paths. Every path the package uses derives from :func:`project_root`.

Outputs live under a *work directory*: the project root by default, or the
directory named by the environment variable ``GANLIB_WORKDIR`` (the end-to-end
test uses it to run the whole chain in a temporary directory).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROFILES_DIR = "params"

# The files of a run directory (runs/<profile>/, or the shipped models/), named once: the stages that
# write them and those that read them use these names, through :class:`RunDir`.
DATA = "data.npz"  # 01: the images and the seen/unseen split
GENERATOR, GENERATOR_CONFIG = "generator.safetensors", "generator.json"  # 02: weights (last: complete) and config
TRAIN_HISTORY = "train_history.npz"  # 02: losses and snapshots
ENCODER, ENCODER_CONFIG = "encoder.safetensors", "encoder.json"  # 02b: weights (last: complete) and config
PRIOR = "prior.json"  # 02b: the latent prior the files are coded under
CLASSIFIER, CLASSIFIER_CONFIG = "classifier.safetensors", "classifier.json"  # 02c: weights (last: complete), config
# 03 runs, invert_<name>.csv (the Makefile's list too): the seed's search on the first 64 images with the split's own
# loss, then with the other loss (the control); the command line's hybrid and encoder-only modes on every image
INVERSIONS = ("seen", "unseen", "seen_ssim", "unseen_mse", "seen_hybrid", "unseen_hybrid", "seen_encoder",
              "unseen_encoder")
TRADEOFF = "tradeoff"  # 03b: tradeoff.csv, and tradeoff/<split>/<mode slug>/<image id>.gan
BASELINES = "baselines"  # 04: baselines.csv and .npz, and baselines/<codec id>/<split>_<image id>.<codec name>
LEARNED_META = "learned.json"  # 04: the learned codecs' size and training budget
LEARNED = "learned"  # 04 and 04b: learned/<model>_lambda_<lambda>.safetensors
RESIDUAL = "residual"  # 04b: residual.csv, and residual/<codec id>/<split>_<image id>.<codec name>
RESIDUAL_META = "residual.json"  # 04b: the residual coders' base layer, size and training budget
DECODED = "decoded.npy"  # 04 and 04b: <stage>_decoded.npy, every decoded image in the order of the stage's csv rows
REALISM = "realism"  # 04c: realism.csv (per codec, parameter and split) and realism_images.csv (per image)
LATENTS = "latents"  # 03: latents/<name>/b<bits>/<image id>.gan
STAGE_PARAMS = "params"  # params/<stage>.yaml: each stage's papermill parameters (written by the Makefile)


def latent_name(image_id) -> str:
    """The name of an evaluation image's latent file: ``<image id>.gan``."""
    return f"{int(image_id)}.gan"


@dataclass(frozen=True)
class RunDir:
    """A run directory, ``runs/<profile>/`` (or the shipped ``models/``, or a study model's folder):
    the one place that names its files. Stages and readers ask it for a path (``run.data``,
    ``run.inversion_csv("unseen")``) rather than joining names; it is a path-like object, so
    functions that take a directory (``Path(run)``, ``open``) take it too."""

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    def __fspath__(self) -> str:
        return os.fspath(self.root)

    def __str__(self) -> str:
        return str(self.root)

    @property
    def name(self) -> str:
        return self.root.name

    # 01_data
    @property
    def data(self) -> Path:
        return self.root / DATA

    # 02_train_gan
    @property
    def generator(self) -> Path:
        return self.root / GENERATOR

    @property
    def generator_config(self) -> Path:
        return self.root / GENERATOR_CONFIG

    @property
    def train_history(self) -> Path:
        return self.root / TRAIN_HISTORY

    # 02b_train_encoder
    @property
    def encoder(self) -> Path:
        return self.root / ENCODER

    @property
    def encoder_config(self) -> Path:
        return self.root / ENCODER_CONFIG

    @property
    def prior(self) -> Path:
        return self.root / PRIOR

    # 02c_train_classifier
    @property
    def classifier(self) -> Path:
        return self.root / CLASSIFIER

    @property
    def classifier_config(self) -> Path:
        return self.root / CLASSIFIER_CONFIG

    # 03_invert
    def inversion_csv(self, name: str) -> Path:
        """``invert_<name>.csv``: the per-image rows of inversion ``name``."""
        return self.root / f"invert_{name}.csv"

    def inversion_npz(self, name: str) -> Path:
        """``invert_<name>.npz``: its ids, originals, float and decoded images."""
        return self.root / f"invert_{name}.npz"

    def latent_file(self, name: str, bits: int, image_id) -> Path:
        """``latents/<name>/b<bits>/<image id>.gan``: an image's file of inversion ``name``."""
        return self.root / LATENTS / name / f"b{int(bits)}" / latent_name(image_id)

    # 03b_tradeoff
    @property
    def tradeoff_csv(self) -> Path:
        return self.root / f"{TRADEOFF}.csv"

    def tradeoff_dir(self, split: str, slug: str) -> Path:
        """``tradeoff/<split>/<slug>/``: the files of one encoding mode (:attr:`ganlib.inversion.modes.Mode.slug`)."""
        return self.root / TRADEOFF / split / slug

    # 04_baselines
    @property
    def baselines_csv(self) -> Path:
        return self.root / f"{BASELINES}.csv"

    @property
    def baselines_npz(self) -> Path:
        return self.root / f"{BASELINES}.npz"

    @property
    def baselines_decoded(self) -> Path:
        """``baselines_decoded.npy``: uint8 (rows, H, W, C), row i decoded from ``baselines.csv``'s row i's file."""
        return self.root / f"{BASELINES}_{DECODED}"

    def baseline_file(self, codec_id: str, split: str, image_id, ext: str) -> Path:
        """``baselines/<codec id>/<split>_<image id>.<ext>``: an evaluation image's file of a baseline codec."""
        return self.root / BASELINES / codec_id / f"{split}_{int(image_id)}.{ext}"

    @property
    def learned_meta(self) -> Path:
        return self.root / LEARNED_META

    def learned_model(self, model: str, lam: float) -> Path:
        """``learned/<model>_lambda_<lam>.safetensors``: a learned model trained at trade-off ``lam``."""
        return self.root / LEARNED / f"{model}_lambda_{lam}.safetensors"

    # 04b_residual
    @property
    def residual_csv(self) -> Path:
        return self.root / f"{RESIDUAL}.csv"

    @property
    def residual_meta(self) -> Path:
        return self.root / RESIDUAL_META

    @property
    def residual_decoded(self) -> Path:
        """``residual_decoded.npy``: uint8 (rows, H, W, C), row i decoded from ``residual.csv``'s row i's file."""
        return self.root / f"{RESIDUAL}_{DECODED}"

    # 04c_realism
    @property
    def realism_csv(self) -> Path:
        return self.root / f"{REALISM}.csv"

    @property
    def realism_images_csv(self) -> Path:
        return self.root / f"{REALISM}_images.csv"

    def residual_file(self, codec_id: str, split: str, image_id, ext: str) -> Path:
        """``residual/<codec id>/<split>_<image id>.<ext>``: an evaluation image's layered file."""
        return self.root / RESIDUAL / codec_id / f"{split}_{int(image_id)}.{ext}"

    # the Makefile
    def stage_params(self, stage: str) -> Path:
        """``params/<stage>.yaml``: the parameters a stage ran with (``python -m ganlib.pipeline``)."""
        return self.root / STAGE_PARAMS / f"{stage}.yaml"


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


def run_dir(profile: str) -> RunDir:
    """``runs/<profile>/`` (created if missing): data, checkpoints and per-stage results, each file
    named by :class:`RunDir`."""
    path = work_dir() / "runs" / profile
    path.mkdir(parents=True, exist_ok=True)
    return RunDir(path)


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
