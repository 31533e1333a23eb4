import math

import numpy as np
import pandas as pd
import pytest

from ganlib.evaluation import targets


def rd():
    """Two images; JPEG reaches SSIM 0.9 on image 1 only at q=50; GAN reversal's base never does,
    its residual layer does on image 1, PNG on both."""
    rows = [("jpeg", 10, 1, 100, 0.80), ("jpeg", 50, 1, 300, 0.92), ("jpeg", 10, 2, 110, 0.95),
            ("jpeg", 50, 2, 310, 0.99), ("gan", 8, 1, 60, 0.85), ("gan", 8, 2, 60, 0.88),
            ("gan_residual", 0.02, 1, 150, 0.93), ("gan_residual", 0.02, 2, 160, 0.89), ("png", None, 1, 600, 1.0),
            ("png", None, 2, 650, 1.0)]
    frame = pd.DataFrame(rows, columns=["codec", "param", "image_id", "bytes", "ssim"])
    return frame.assign(split="unseen", bpp=8 * frame.bytes / 784, psnr=40 * frame.ssim - 8)


def test_each_image_gets_its_smallest_file_that_meets_the_target():
    t = targets.per_image(rd(), "ssim", 0.9).set_index("codec")
    assert t.loc["jpeg", "met"] == 1 and t.loc["jpeg", "bytes"] == (300 + 110) / 2
    assert t.loc["gan", "met"] == 0 and math.isnan(t.loc["gan", "bytes"])
    assert t.loc["gan_residual", "met"] == 0.5 and t.loc["gan_residual", "bytes"] == 150
    assert t.loc["gan_ladder", "met"] == 1 and t.loc["gan_ladder", "bytes"] == (150 + 650) / 2  # PNG for image 2


def test_the_table_has_every_goal():
    table = targets.per_image_table(rd())
    assert set(zip(table.metric, table.value)) == set(targets.REPORT_TARGETS)
    psnr = table[(table.metric == "psnr") & (table.codec == "jpeg")].iloc[0]  # PSNR 30 = SSIM 0.95 here
    assert psnr.met == 0.5 and psnr.bytes == 110


@pytest.mark.parametrize("text, message", [("ssim", "metric=value"), ("psnr=abc", "psnr must be"),
                                           ("ms-ssim=0.9", None)])
def test_parse(text, message):
    if message is None:
        assert targets.parse(text) == targets.Target("ms_ssim", 0.9)
    else:
        with pytest.raises(ValueError, match=message):
            targets.parse(text)


def test_read_heldout_labels_the_grid_rows_and_is_empty_before_the_experiment(tmp_path):
    assert targets.read_heldout(tmp_path) == (None, {})
    pd.DataFrame([{"group": "g", "what": "x"}]).to_csv(tmp_path / "heldout.csv", index=False)
    image = np.zeros((2, 4, 4, 1), np.uint8)
    np.savez(tmp_path / "grid.npz", g_originals=image, g_base=image + 1)
    table, grid = targets.read_heldout(tmp_path)
    assert list(table.what) == ["x"] and list(grid) == ["g: originals", "g: base layer"]
