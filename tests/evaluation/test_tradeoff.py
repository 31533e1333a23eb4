import numpy as np
import pandas as pd
import pytest

from ganlib.codecs.gan import GanCodec
from ganlib.evaluation import tradeoff
from ganlib.inversion import modes
from ganlib.models import encoder
from ganlib.pipeline import stages


def test_modes_cover_encoder_hybrid_and_search():
    found = modes.modes("ssim", [10, 0], [1000, 50], restarts=4, adam_steps=[30], lbfgs_search_steps=[40])
    assert [(m.name, m.config.optimizer, m.config.steps, m.config.restarts) for m in found] == [
        ("encoder", "lbfgs", 0, 1), ("hybrid", "lbfgs", 10, 1), ("hybrid", "adam", 30, 1), ("search", "adam", 50, 4),
        ("search", "adam", 1000, 4), ("search", "lbfgs", 40, 4)]
    assert [m.label for m in found] == ["encoder only", "encoder + 10 L-BFGS steps", "encoder + 30 Adam steps",
                                        "search 50 x 4", "search 1000 x 4", "search 40 x 4 (L-BFGS)"]
    assert len({m.slug for m in found}) == len(found)
    assert found[1].config.init == "encoder" and found[3].config.init == "random"
    assert found[2].config.refine_steps == 20 and found[4].config.refine_steps == 200
    assert found[1].config.refine_steps == found[5].config.refine_steps == modes.HYBRID_REFINE_STEPS
    assert len(modes.modes("ssim", [0], [10], restarts=4)) == 2  # no Adam hybrids, no L-BFGS searches
    with pytest.raises(ValueError, match="search_steps"):
        modes.modes("ssim", [0], [0], restarts=4)
    with pytest.raises(ValueError, match="adam_steps"):
        modes.modes("ssim", [0], [10], restarts=4, adam_steps=[0])
    with pytest.raises(ValueError, match="loss"):
        modes.modes("foo", [0], [10], restarts=4)


def test_measure_scores_the_files_it_wrote(small_generator, images, tmp_path):
    E, _ = encoder.train_encoder(small_generator, images, 4, 4, batch_size=4, progress=False)
    mode = modes.modes("mse", [3], [2], restarts=1)[0]
    rows = stages.measure(small_generator, E, None, images[:3], [7, 8, 9], mode, 6, tmp_path)
    assert [r["image_id"] for r in rows] == [7, 8, 9] and all(r["encode_ms"] > 0 for r in rows)
    for r in rows:
        blob = (tmp_path / f"{r['image_id']}.gan").read_bytes()
        assert r["bytes"] == len(blob) and GanCodec(small_generator).unpack(blob).bits == 6


def test_summary_orders_unseen_first_then_by_time():
    rows = pd.DataFrame([
        {"split": s, "mode": m, "optimizer": "adam", "label": m, "steps": k, "restarts": 1, "image_id": i,
         "encode_ms": ms, "bpp": 0.5, "psnr": 20.0 + i, "ssim": 0.8}
        for s in ("seen", "unseen") for m, k, ms in (("search", 100, 50.0), ("encoder", 0, 2.0)) for i in (0, 1)])
    out = tradeoff.summarize(rows)
    assert list(zip(out.split, out["mode"])) == [("unseen", "encoder"), ("unseen", "search"), ("seen", "encoder"),
                                                ("seen", "search")]
    assert out.psnr.tolist() == [20.5] * 4 and out.images_per_s.tolist() == [500.0, 20.0, 500.0, 20.0]
    assert out.n_images.tolist() == [2] * 4


def fake_rows(diff_by_label):
    rng = np.random.default_rng(0)
    out = []
    for (mode, label), diff in diff_by_label.items():
        for split, shift in (("seen", diff), ("unseen", 0.0)):
            for i, noise in enumerate(rng.normal(0, 0.01, 40)):
                out.append({"split": split, "mode": mode, "optimizer": "lbfgs" if "L-BFGS" in label else "adam",
                            "label": label, "loss": "ssim", "bits": 8, "image_id": i,
                            "ssim": 0.8 + shift + noise, "psnr": 20.0 + noise})
    return pd.DataFrame(out)


def test_seen_gap_and_statement():
    rows = fake_rows({("encoder", "encoder only"): 0.05, ("hybrid", "encoder + 30 steps"): 0.03,
                      ("search", "search 1000 x 4"): 0.0, ("search", "search 40 x 4 (L-BFGS)"): 0.1})
    gap = tradeoff.seen_gap(rows)
    ssim = gap[gap.metric == "ssim"].set_index("label")
    assert list(ssim.index) == ["encoder only", "encoder + 30 steps", "search 1000 x 4", "search 40 x 4 (L-BFGS)"]
    assert ssim.loc["encoder only", "diff"] == pytest.approx(0.05, abs=0.01) and ssim.loc["encoder only", "p"] < 1e-6
    text = tradeoff.gap_statement(gap)
    assert "widens the gap" in text and "2 of 2 encoder-started differences are significant" in text
    narrow = tradeoff.gap_statement(tradeoff.seen_gap(fake_rows({("hybrid", "h"): 0.0, ("search", "s"): 0.05})))
    assert "narrows the gap" in narrow and "none of the encoder-started differences is significant" in narrow
