"""ganlib.pipeline.learned_study: the settings, the snapshots, the convergence table and what it ships."""
import json

import numpy as np
import pandas as pd
import pytest

from ganlib.core import paths
from ganlib.models import learned
from ganlib.pipeline import learned_study

GOOD = {"data_profile": "default", "eval_images": 10, "batch_size": 4, "lr": 0.003, "down": 2, "seed": 0,
        "lambdas": {"mse": [0.001, 0.01], "ssim": [2, 20]},
        "series": [{"model": "factorized", "distortion": "mse", "n": 8, "m": 12, "steps": 8},
                   {"model": "hyperprior", "distortion": "ssim", "n": 8, "m": 12, "steps": 4, "lambdas": [3, 30]}]}


def test_settings_and_snapshots():
    settings = learned_study.check_settings(GOOD)
    first, second = settings["series"]
    assert first.id == "factorized_n8_m12_s8" and first.snapshots == [1, 2, 4, 8]
    assert second.family == "hyperprior_ssim" and second.lambdas == (3, 30)
    assert learned_study.Series("factorized", "mse", 8, 12, 4000).snapshots == [500, 1000, 2000, 4000]


@pytest.mark.parametrize("change, name", [
    ({"eval_images": 0}, "eval_images"), ({"lr": -1.0}, "lr"), ({"lambdas": {"mse": [0.1]}}, "at least two"),
    ({"series": [{"model": "conditional", "distortion": "mse", "n": 8, "m": 12, "steps": 8}]}, "series.model"),
    ({"series": [{"model": "factorized", "distortion": "mse", "n": 8}]}, "each series needs"),
    ({"extra": 1}, "exactly the keys")])
def test_bad_settings_are_named(change, name):
    with pytest.raises(ValueError, match=name):
        learned_study.check_settings({**GOOD, **change})


def table(family="factorized", steps=4, n=8, m=12, halving=0.5):
    """convergence.csv rows whose rate at equal quality falls by ``halving`` with each doubling."""
    rows = []
    for step in (1, 2, 4):
        for lam, bpp in ((0.001, 0.5), (0.01, 1.0)):
            rate = bpp * halving ** -np.log2(steps / step)
            rows.append({"family": family, "n": n, "m": m, "steps": steps, "step": step, "lambda": lam,
                         "bpp": rate, "psnr": 20 + 10 * bpp, "ssim": 0.5 + 0.1 * bpp, "ms_ssim": 0.6 + 0.1 * bpp,
                         "seconds": 1.0})
    return pd.DataFrame(rows)


def test_convergence_is_the_bd_rate_of_each_doubling():
    bd = learned_study.convergence(table()).set_index("step")
    assert bd.loc[2, "bd_psnr_doubled"] == pytest.approx(-50.0)  # the snapshot at 4 steps needs half the bits
    assert bd.loc[1, "bd_psnr_final"] == pytest.approx(300.0) and np.isnan(bd.loc[4, "bd_psnr_doubled"])
    assert (bd.trained_for == "psnr").all()


def test_ship_copies_the_longest_series_and_records_its_distance(tmp_path, images):
    settings = learned_study.check_settings({**GOOD, "series": [
        {"model": "factorized", "distortion": "mse", "n": 8, "m": 12, "steps": 2},
        {"model": "factorized", "distortion": "mse", "n": 8, "m": 12, "steps": 4}]})
    run_dir = tmp_path / "runs"
    model = learned.build(1, 8, 12, "factorized").eval()
    model.update(force=True)
    for s in settings["series"]:
        for lam in (0.001, 0.01):
            learned.save(run_dir / s.id / f"factorized_lambda_{lam}.safetensors", model)
    rows = table()
    meta = learned_study.ship(settings, rows, learned_study.convergence(rows), run_dir, tmp_path / "models", "abcd")
    assert [(r["model"], r["lambda"], r["steps"]) for r in meta["runs"]] == [("factorized", 0.001, 4),
                                                                            ("factorized", 0.01, 4)]
    assert meta["convergence"]["factorized"] == {"metric": "psnr", "last_doubling_bd_rate": pytest.approx(-50.0)}
    assert json.loads((tmp_path / "models" / "learned.json").read_text())["data_fingerprint"] == "abcd"
    assert paths.RunDir(tmp_path / "models").learned_model("factorized", 0.01).is_file()
