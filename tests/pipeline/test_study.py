import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ganlib.codecs import zoo
from ganlib.core import paths
from ganlib.evaluation import scoring
from ganlib.models import gan_training
from ganlib.pipeline import profiles, study
from ganlib.report import document

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "data": {"dataset": "fashion_mnist", "image_size": 28, "channels": 1, "n_eval": 3, "seed": 0},
    "train": {"steps": 3, "batch_size": 4, "lr": 0.0002, "seed": 0},
    "models": [{"latent_dim": 4, "width": 4}, {"latent_dim": 8, "width": 4, "steps": 2}],
    "prior": {"images": 4, "loss": "ssim", "steps": 2, "restarts": 1, "seed": 0},
    "invert": {"loss": "ssim", "steps": 3, "restarts": 2, "n_images": 3, "bits": [2, 4], "refine_steps": 2,
               "seed": 0},
    "table": {"gan_bits": 4},
}


@pytest.fixture
def arrays(images):
    """Eight training images, eight held out (the same, flipped), two seen and three unseen evaluation images."""
    return {"train": images, "test": images[:, ::-1].copy(), "seen_ids": np.array([0, 1]),
            "unseen_ids": np.array([1, 4, 6])}


def baseline_rows(arrays, ids):
    """rd.csv rows of JPEG and WebP (three qualities each) on the unseen images ``ids``."""
    originals, rows = arrays["test"][ids], []
    for family, qualities in (("jpeg", (1, 50, 95)), ("webp", (0, 50, 100))):
        for q in qualities:
            c = zoo.codec(family, q)
            scored, _ = scoring.score_files(c, [c.encode(im) for im in originals], originals)
            rows += [{"codec": family, "param": q, "split": "unseen", "image_id": int(i), **r}
                     for i, r in zip(ids, scored)]
    return pd.DataFrame(rows)[study.RD_COLUMNS]


def test_the_study_writes_one_row_per_model_and_resumes(arrays, tmp_path, monkeypatch):
    settings = study.check_settings(copy.deepcopy(TINY))
    ids = arrays["unseen_ids"]
    baselines = baseline_rows(arrays, ids)
    out = tmp_path / "reports" / "study.csv"
    table = study.run(settings, arrays, baselines, tmp_path / "runs", out, progress=False, log=lambda s: None)
    assert table.model.tolist() == ["z4_w4_s3", "z8_w4_s2"] and table.steps.tolist() == [3, 2]
    for column in ("latent_dim", "width", "generator_parameters", "train_seconds", "load_average", "eval_seconds",
                   "fingerprint", "bytes", "bpp", "ssim", "psnr", "ms_ssim", "ssim_float", "psnr_float"):
        assert table[column].notna().all(), column
    bd = [c for c in table if c.startswith("bd_")]
    assert bd == [f"bd_{m}_{f}{n}" for f in ("jpeg", "webp") for m in ("ssim", "psnr") for n in ("", "_note")]
    assert (table.gan_bits == 4).all() and (table.n_images == 3).all()
    # the quality columns are the files on disk, read back at 4 bits
    for row in table.itertuples():
        stored = [paths.RunDir(tmp_path / "runs" / row.model).latent_file("unseen", 4, i).read_bytes() for i in ids]
        assert row.bytes == pytest.approx(np.mean([len(b) for b in stored]))
        assert row.bpp == pytest.approx(8 * row.bytes / (28 * 28))
        assert (tmp_path / "runs" / row.model / "prior.json").is_file()
    assert document.study_markdown(out).count("| 4 | 4 | 3 |") == 3  # one line per table

    def refuse(*args, **kwargs):
        raise AssertionError("a model with the same settings ran again")

    monkeypatch.setattr(gan_training, "train_gan", refuse)
    monkeypatch.setattr(study, "compress", refuse)
    again = study.run(settings, arrays, baselines, tmp_path / "runs", out, progress=False, log=lambda s: None)
    pd.testing.assert_frame_equal(again, table)
    # other inversion settings: the generators are reused, the files made again
    changed = copy.deepcopy(TINY)
    changed["invert"]["refine_steps"] = 1
    monkeypatch.undo()
    monkeypatch.setattr(gan_training, "train_gan", refuse)
    third = study.run(study.check_settings(changed), arrays, baselines, tmp_path / "runs", out, progress=False,
                      log=lambda s: None)
    assert third.fingerprint.tolist() == table.fingerprint.tolist()


def test_bd_rates_are_the_reports_against_the_unseen_baselines():
    """A GAN curve with half the baseline's bits at every quality is 50% cheaper, with the report's sign."""
    base = pd.DataFrame([{"codec": "jpeg", "param": q, "split": "unseen", "image_id": 0, "bytes": b,
                          "payload_bytes": b, "bpp": b / 98, "psnr": 20 + q, "ssim": 0.5 + q / 10, "ms_ssim": 0.9}
                         for q, b in ((1, 100), (2, 200), (3, 400))])
    gan = base.assign(codec="gan", bytes=base.bytes / 2, payload_bytes=base.payload_bytes / 2, bpp=base.bpp / 2)
    out = study.bd_rates(gan, base)
    assert out["bd_ssim_jpeg"] == pytest.approx(-50) and out["bd_psnr_jpeg"] == pytest.approx(-50)
    assert out["bd_ssim_jpeg_note"] is None
    far = study.bd_rates(gan.assign(ssim=gan.ssim + 1), base)
    assert np.isnan(far["bd_ssim_jpeg"]) and far["bd_ssim_jpeg_note"] == "no-overlap"


@pytest.mark.parametrize("section, change, name", [
    ("models", [{"latent_dim": 0, "width": 4}], "latent_dim"),
    ("models", [{"latent_dim": 4, "width": "wide"}], "width"),
    ("models", [{"latent_dim": 4, "widht": 4}], "widht"),
    ("models", [], "models"),
    ("models", [{"latent_dim": 4, "width": 4}, {"latent_dim": 4, "width": 4, "steps": 3}], "twice"),
    ("models", [{"latent_dim": 4, "width": 4, "steps": 0}], "steps"),
    ("train", {"steps": 3, "batch_size": 4, "lr": -1, "seed": 0}, "lr"),
    ("train", {"stepz": 3, "batch_size": 4, "lr": 0.1, "seed": 0}, "stepz"),
    ("data", {"dataset": "mnist", "image_size": 28, "channels": 1, "n_eval": 3, "seed": 0}, "dataset"),
    ("prior", {"loss": "psnr"}, "loss"),
    ("prior", {"images": 1}, "images"),
    ("invert", {"loss": "ssim", "steps": 3, "n_images": 4, "bits": [2]}, "n_images"),
    ("invert", {"loss": "ssim", "steps": 3, "n_images": 3, "bits": [0]}, "bits"),
    ("invert", {"loss": "ssim", "steps": 0, "n_images": 3, "bits": [4]}, "steps"),
    ("table", {"gan_bits": 8}, "gan_bits"),
    ("extra", {}, "extra"),
])
def test_invalid_settings_name_the_parameter(section, change, name):
    raw = copy.deepcopy(TINY)
    raw[section] = change
    with pytest.raises(ValueError, match=name):
        study.check_settings(raw)


def test_the_study_profile_keeps_the_default_runs_data_training_and_search():
    """params/study.yaml: the default profile's data, training and unseen search, so its evaluation images are
    the first of the default run's and its default-shaped model is the default run's."""
    default = yaml.safe_load((ROOT / "params" / "default.yaml").read_text())
    raw = yaml.safe_load((ROOT / "params" / "study.yaml").read_text())
    settings = study.load_settings("study")
    assert settings.data == {**default["data"], "n_eval": raw["data"]["n_eval"], "data_dir": "", "unseen_fraction": 0.1,
                             "n_images": 4096}
    assert raw["data"]["n_eval"] <= default["data"]["n_eval"]  # its images: the first of the default run's
    train = {k: v for k, v in default["train"].items() if k not in ("latent_dim", "width", "trained_from")}
    assert settings.train == {**train, "lr": 0.0002}  # the sweep's; the default model's lr is its own entry's
    unseen = {k: v for k, v in default["invert_unseen"].items() if k != "split"}
    assert raw["invert"] == unseen
    model = study.Model(default["train"]["latent_dim"], default["train"]["width"], default["train"]["steps"],
                        default["train"]["lr"])
    assert model in settings.models and settings.gan_bits == default["results"]["gan_bits"]


def test_the_chain_refuses_the_study_and_the_study_refuses_a_chain_profile(capsys):
    assert profiles.main(["study", "data"]) == 2
    assert "make study" in capsys.readouterr().err
    assert study.main(["--profile", "default"]) == 2
    assert "not a study" in capsys.readouterr().err


def test_baselines_must_be_on_the_studys_images(arrays, tmp_path):
    path = tmp_path / "rd.csv"
    baseline_rows(arrays, [1, 4, 6]).to_csv(path, index=False)
    assert len(study.read_baselines(path, [1, 4, 6])) == 18
    with pytest.raises(ValueError, match="other unseen images"):
        study.read_baselines(path, [1, 4, 5])
    with pytest.raises(FileNotFoundError, match="05_results"):
        study.read_baselines(tmp_path / "missing.csv", [1])
