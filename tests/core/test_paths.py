"""ganlib.core.paths: the run directory names every file of runs/<profile>/ once."""
import json
import os
from pathlib import Path

import pytest

from ganlib.core import paths

ROOT = Path(__file__).resolve().parents[2]


def test_run_dir_is_a_path_like_run_directory_under_the_work_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("GANLIB_WORKDIR", str(tmp_path))
    run = paths.run_dir("smoke")
    assert isinstance(run, paths.RunDir) and run.root == tmp_path / "runs" / "smoke" and run.root.is_dir()
    assert Path(run) == run.root and os.fspath(run) == str(run.root) == str(run) and run.name == "smoke"
    assert paths.RunDir(run) == run and paths.RunDir(str(run.root)) == run  # from a RunDir, a Path or a str
    assert paths.relative(run.data) == "runs/smoke/data.npz"
    with pytest.raises(TypeError):
        run / "data.npz"  # noqa: B018 - a file is named by the RunDir, not joined by hand
    with pytest.raises(AttributeError):
        run.root = tmp_path  # frozen


def test_every_file_of_a_run(tmp_path):
    run = paths.RunDir(tmp_path)
    named = {
        run.data: "data.npz",
        run.generator: "generator.safetensors", run.generator_config: "generator.json",
        run.train_history: "train_history.npz",
        run.encoder: "encoder.safetensors", run.encoder_config: "encoder.json", run.prior: "prior.json",
        run.inversion_csv("seen_ssim"): "invert_seen_ssim.csv", run.inversion_npz("unseen"): "invert_unseen.npz",
        run.latent_file("unseen", 8, 12): "latents/unseen/b8/12.gan",
        run.tradeoff_csv: "tradeoff.csv",
        run.tradeoff_dir("seen", "encoder_lbfgs_0x1"): "tradeoff/seen/encoder_lbfgs_0x1",
        run.baselines_csv: "baselines.csv", run.baselines_npz: "baselines.npz",
        run.baseline_file("jpeg10", "unseen", 3, "jpeg"): "baselines/jpeg10/unseen_3.jpeg",
        run.learned_meta: "learned.json",
        run.learned_model("hyperprior", 0.003): "learned/hyperprior_lambda_0.003.safetensors",
        run.residual_csv: "residual.csv", run.residual_meta: "residual.json",
        run.residual_file("gan_residual_webp50", "seen", 7, "gan_residual_webp"):
            "residual/gan_residual_webp50/seen_7.gan_residual_webp",
        run.stage_params("invert_unseen"): "params/invert_unseen.yaml",
    }
    for path, relative in named.items():
        assert path == tmp_path / relative, relative


def test_image_ids_are_written_as_integers(tmp_path):
    """numpy integers (the ids of data.npz) and plain ints name the same file."""
    import numpy as np

    run = paths.RunDir(tmp_path)
    assert run.latent_file("seen", np.int64(4), np.int64(17)) == run.latent_file("seen", 4, 17)
    assert run.baseline_file("png", "seen", np.int32(5), "png").name == "seen_5.png"
    assert paths.latent_name(np.uint16(9)) == "9.gan"


def test_the_makefile_and_the_shipped_model_use_the_same_names():
    makefile = (ROOT / "Makefile").read_text()
    for name in (paths.DATA, paths.GENERATOR, paths.ENCODER, f"{paths.TRADEOFF}.csv", f"{paths.BASELINES}.csv",
                 f"{paths.RESIDUAL}.csv", f"$(RUN)/{paths.STAGE_PARAMS}/"):
        assert name in makefile, name
    assert "$(RUN)/invert_%.csv" in makefile
    shipped = paths.RunDir(ROOT / "models")
    if shipped.generator_config.is_file():
        assert "fingerprint" in json.loads(shipped.generator_config.read_text())
        assert shipped.prior.is_file() and shipped.encoder.is_file()
