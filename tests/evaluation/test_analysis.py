"""ganlib.evaluation.analysis on small fixed inputs, with the expected numbers written out, and the
summary builder against the committed default run (its summary.csv, byte for byte)."""
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ganlib.core import paths
from ganlib.evaluation import analysis
from ganlib.pipeline import provenance

ROOT = Path(__file__).resolve().parents[2]


def inversion(split, loss, ids, bits, ssim, psnr, nbytes, mode="search"):
    """Rows of a 03 run: a float row per image and a refined row per image and bit depth."""
    rows = [{"split": split, "mode": mode, "loss": loss, "image_id": i, "bits": np.nan, "stage": "float", "ssim": 0.9,
             "psnr": 30.0} for i in ids]
    for b in bits:
        for k, i in enumerate(ids):
            for stage, shift in (("rounded", -0.05), ("refined", 0.0)):
                rows.append({"split": split, "mode": mode, "loss": loss, "image_id": i, "bits": b, "stage": stage,
                             "ssim": ssim[b][k] + shift, "psnr": psnr[b][k], "bytes": nbytes[b],
                             "payload_bytes": nbytes[b] - 13, "bpp": 8 * nbytes[b] / 784, "ms_ssim": np.nan})
    return pd.DataFrame(rows)


def baseline_rows(codec, param, split, ids, nbytes, ssim, psnr):
    return [{"codec": codec, "param": param, "split": split, "image_id": i, "bytes": b, "payload_bytes": b - 20,
             "bpp": 8 * b / 784, "psnr": p, "ssim": s, "ms_ssim": np.nan}
            for i, b, s, p in zip(ids, nbytes, ssim, psnr)]


@pytest.fixture
def inversions():
    ssim = {4: [0.70, 0.80], 8: [0.80, 0.90]}
    psnr = {4: [18.0, 20.0], 8: [20.0, 22.0]}
    runs = {"seen": inversion("seen", "mse", [1, 2], [4, 8], ssim, psnr, {4: 45, 8: 77}),
            "unseen": inversion("unseen", "ssim", [5, 6], [4, 8], ssim, psnr, {4: 45, 8: 77}),
            "seen_ssim": inversion("seen", "ssim", [1, 2], [8], ssim, psnr, {8: 77}),
            "unseen_mse": inversion("unseen", "mse", [5, 6], [8], ssim, psnr, {8: 77})}
    for split, ids in (("seen", [1, 2]), ("unseen", [5, 6])):  # the command line's modes: as the search here
        for mode, drop in (("hybrid", 0.0), ("encoder", 0.1)):
            worse = {b: [v - drop for v in values] for b, values in ssim.items()}
            runs[f"{split}_{mode}"] = inversion(split, "ssim", ids, [4, 8], worse, psnr, {4: 45, 8: 77}, mode)
    return runs


@pytest.fixture
def base():
    rows = []
    for split, ids in (("seen", [1, 2, 3]), ("unseen", [5, 6, 7])):
        rows += baseline_rows("png", np.nan, split, ids, [500, 520, 540], [1.0] * 3, [math.inf] * 3)
        rows += baseline_rows("jpeg", 1, split, ids, [200, 200, 200], [0.60, 0.70, 0.50], [18.0, 19.0, 17.0])
        rows += baseline_rows("jpeg", 10, split, ids, [250, 250, 250], [0.75, 0.85, 0.65], [21.0, 22.0, 20.0])
        rows += baseline_rows("kmeans", 4, split, ids, [220, 220, 220], [0.90, 0.95, 0.85], [27.0, 28.0, 26.0])
        rows += baseline_rows("webp", 0, split, ids, [100, 100, 100], [0.70, 0.80, 0.60], [21.0, 22.0, 20.0])
        rows += baseline_rows("webp", 50, split, ids, [300, 300, 300], [0.95, 0.97, 0.93], [33.0, 34.0, 32.0])
    return pd.DataFrame(rows)


@pytest.fixture
def rd(inversions, base, tmp_path):
    built = analysis.build_rd(inversions, base)
    return analysis.with_derived(analysis.write_rd(tmp_path / "rd.csv", built), (28, 28, 1))


def test_build_rd_keeps_the_inverted_images_and_the_own_loss_runs(inversions, base):
    rd = analysis.build_rd(inversions, base)
    assert list(rd.columns) == analysis.RD_COLUMNS
    assert set(rd.image_id) == {1, 2, 5, 6}  # images 3 and 7 were not inverted
    for family in ("gan", "gan_search", "gan_encoder"):
        rows = rd[rd.codec == family]
        assert len(rows) == 8 and set(rows.param) == {4, 8}  # refined files of the family's two runs only
    assert len(rd) == 3 * 8 + 2 * 2 * 6
    assert rd.search_subset.all()


def test_build_rd_marks_the_search_subset(inversions, base):
    inversions = {**inversions, "seen": inversions["seen"][inversions["seen"].image_id == 1]}
    rd = analysis.build_rd(inversions, base)
    assert set(rd.image_id) == {1, 2, 5, 6}  # the command line's mode's images
    assert set(rd[rd.split == "seen"].groupby("image_id").search_subset.first().items()) == {(1, True), (2, False)}


def test_with_derived_columns(rd):
    jpeg1 = rd[(rd.scheme == "jpeg1")].iloc[0]
    assert jpeg1.cr == pytest.approx(784 / 200) and jpeg1.payload_bpp == pytest.approx(8 * 180 / 784)
    assert jpeg1.mse == pytest.approx(255**2 / 10 ** 1.8)
    assert set(rd.scheme) == {"gan", "gan_search", "gan_encoder", "png", "jpeg1", "jpeg10", "kmeans4", "webp0",
                              "webp50"}


def test_summary_expected_values(rd):
    """Expected values written out, in the style of CompressAI's eval_model tests."""
    table = analysis.summary(rd, gan_bits=8)
    assert list(table.split) == ["unseen"] * 7 + ["seen"] * 7
    assert list(table.scheme[:7]) == ["gan", "gan_search", "png", "kmeans4", "jpeg10", "jpeg1", "webp0"]
    gan = analysis.summary_row(table, "unseen", "gan")
    expected = {"n_images": 2, "bpp": 8 * 77 / 784, "cr": 784 / 77, "psnr": 21.0, "ssim": 0.85,
                "mse": (255**2 / 10**2.0 + 255**2 / 10**2.2) / 2,
                "ssim_ci95": stats.t.ppf(0.975, 1) * np.std([0.8, 0.9], ddof=1) / np.sqrt(2),
                "psnr_ci95": stats.t.ppf(0.975, 1) * np.std([20.0, 22.0], ddof=1) / np.sqrt(2), "bpp_ci95": 0.0}
    for key, value in expected.items():
        assert gan[key] == pytest.approx(value, rel=1e-12), key
    jpeg1 = analysis.summary_row(table, "seen", "jpeg1")
    assert jpeg1.n_images == 2 and jpeg1.ssim == pytest.approx(0.65) and jpeg1.bpp == pytest.approx(8 * 200 / 784)
    assert np.isinf(analysis.summary_row(table, "seen", "png").psnr)
    assert np.isnan(analysis.summary_row(table, "seen", "png").psnr_ci95)  # no interval for an infinite mean
    with pytest.raises(KeyError, match="no row for split 'seen', scheme 'avif0'"):
        analysis.summary_row(table, "seen", "avif0")


def test_summary_reproduces_the_committed_default_run():
    """summary.csv is what the committed rd.csv gives: the same rows and columns, and values equal to the last
    digit or two that CSV keeps (a mean's rounding may differ between processors' SIMD widths)."""
    rd = analysis.with_derived(pd.read_csv(ROOT / "reports/default/rd.csv"), (28, 28, 1))
    buf = io.StringIO()
    analysis.summary(rd, 8)[analysis.SUMMARY_COLUMNS].to_csv(buf, index=False)
    rebuilt = pd.read_csv(io.StringIO(buf.getvalue()))
    pd.testing.assert_frame_equal(rebuilt, pd.read_csv(ROOT / "reports/default/summary.csv"), rtol=1e-12)


def test_check_gan_bits(inversions):
    analysis.check_gan_bits(analysis.gan_rows(inversions), 8)
    with pytest.raises(ValueError, match=r"gan_bits=6 is not allowed; 03_invert produced bits \[4, 8\]"):
        analysis.check_gan_bits(analysis.gan_rows(inversions), 6)


def test_curves_order_and_means(rd):
    c = analysis.curves(rd)
    assert list(c.split.drop_duplicates()) == ["unseen", "seen"]
    assert list(c[c.split == "unseen"].codec.drop_duplicates()) == ["gan", "gan_search", "gan_encoder", "png", "kmeans",
                                                                     "jpeg", "webp"]
    gan8 = c[(c.split == "unseen") & (c.codec == "gan") & (c.param == 8)].iloc[0]
    assert gan8.ssim == pytest.approx(0.85) and gan8.bpp == pytest.approx(8 * 77 / 784)
    assert analysis.quality_metrics(c) == ["ssim", "psnr"]  # ms_ssim is empty here


def curve_table(points):
    """A curves() table from {(split, codec): [(param, bpp, ssim, psnr), ...]}."""
    return pd.DataFrame([{"split": s, "codec": c, "param": p, "bpp": b, "payload_bpp": b, "ssim": q, "psnr": d}
                         for (s, c), pts in points.items() for p, b, q, d in pts])


def test_bd_rate_table_values_and_reasons():
    table = curve_table({
        ("unseen", "gan"): [(4, 0.4, 0.70, 18.0), (8, 0.8, 0.80, 20.0)],
        ("unseen", "jpeg"): [(1, 0.8, 0.70, 18.0), (10, 1.6, 0.80, 20.0)],  # the same curve at twice the rate
        ("unseen", "png"): [(np.nan, 5.0, 1.0, math.inf)],
        ("unseen", "webp"): [(0, 1.0, 0.90, 25.0), (50, 2.0, 0.95, 30.0)],  # better than GAN everywhere
        ("unseen", "kmeans"): [(2, 1.0, 0.85, 20.0), (4, 2.0, 0.85, 20.0)],  # flat
    })
    bd = analysis.bd_rate_table(table)
    assert list(bd.codec) == ["png", "kmeans", "jpeg", "webp"]
    row = bd.set_index("codec")
    assert row.loc["jpeg", "ssim"] == pytest.approx(-50.0) and row.loc["jpeg", "ssim_note"] is None
    assert row.loc["jpeg", "psnr"] == pytest.approx(-50.0)
    assert np.isnan(row.loc["png", "ssim"]) and row.loc["png", "ssim_note"] == "lossless"
    assert np.isnan(row.loc["webp", "ssim"]) and row.loc["webp", "ssim_note"] == "no-overlap"
    assert np.isnan(row.loc["kmeans", "psnr"]) and row.loc["kmeans", "psnr_note"] == "saturates"
    flat_gan = curve_table({("seen", "gan"): [(4, 0.4, 0.8, 20.0), (8, 0.8, 0.8, 20.0)],
                            ("seen", "jpeg"): [(1, 0.8, 0.7, 18.0), (10, 1.6, 0.8, 20.0)]})
    assert analysis.bd_rate_table(flat_gan).ssim_note.tolist() == ["gan-saturates"]
    for note in ("lossless", "no-overlap", "saturates", "gan-saturates", "single", "below", "above"):
        assert note in analysis.NOTES


def test_matched_rate_table():
    table = curve_table({
        ("unseen", "gan"): [(4, 0.4, 0.70, 18.0), (8, 0.8, 0.80, 20.0)],
        ("unseen", "jpeg"): [(1, 2.0, 0.60, 18.0), (10, 4.0, 0.80, 22.0)],
        ("unseen", "factorized"): [(0.001, 0.4, 0.60, 19.0), (0.01, 1.6, 0.80, 23.0)],
    })
    m = analysis.matched_rate_table(table, gan_bits=8).set_index("codec")
    assert m.loc["gan", "ssim"] == pytest.approx(0.80) and m.loc["gan", "note"] is None
    assert np.isnan(m.loc["jpeg", "ssim"]) and m.loc["jpeg", "note"] == "below" and m.loc["jpeg", "lowest_bpp"] == 2.0
    assert m.loc["factorized", "ssim"] == pytest.approx(0.70)  # halfway in log rate from 0.4 to 1.6
    assert m.loc["factorized", "psnr"] == pytest.approx(21.0) and (m.at_bpp == 0.8).all()


def test_equal_loss_matches_welch(inversions):
    inverted = pd.concat(inversions.values())
    # make seen images better by 0.05 under loss ssim
    inverted.loc[(inverted.split == "seen") & (inverted.loss == "ssim"), "ssim"] += 0.05
    table = analysis.equal_loss(inverted, 8)
    assert list(zip(table["mode"], table.loss, table.metric)) == [
        (mode, loss, metric) for mode, loss in (("search", "mse"), ("search", "ssim"), ("hybrid", "ssim"),
                                                ("encoder", "ssim")) for metric in ("ssim", "psnr")]
    row = table[(table["mode"] == "search") & (table.loss == "ssim") & (table.metric == "ssim")].iloc[0]
    seen, unseen = [0.85, 0.95], [0.80, 0.90]
    welch = stats.ttest_ind(seen, unseen, equal_var=False)
    assert row.seen == pytest.approx(0.90) and row.unseen == pytest.approx(0.85) and row["diff"] == pytest.approx(0.05)
    assert row.p == pytest.approx(welch.pvalue) and row.diff_lo == pytest.approx(welch.confidence_interval(0.95)[0])
    assert row.n_seen == row.n_unseen == 2
    with pytest.raises(ValueError, match="gan_bits=4 is not allowed: the 03 runs"):
        analysis.equal_loss(inverted, 4)  # the control runs have no 4-bit files


def test_refinement_effect(inversions):
    effect = analysis.refinement_effect(analysis.gan_rows(inversions))
    assert list(effect.columns) == ["split", "bits", "float", "rounded", "refined"]
    assert list(zip(effect.split, effect.bits)) == [("unseen", 4), ("unseen", 8), ("seen", 4), ("seen", 8)]
    first = effect.iloc[0]
    assert first.float == pytest.approx(0.9) and first.refined == pytest.approx(0.75)
    assert first.rounded == pytest.approx(0.70)
    one_run = analysis.refinement_effect(inversions["unseen"], file_bytes=True)  # what 03_invert shows
    assert list(one_run.columns) == ["split", "bits", "float", "rounded", "refined", "bytes (refined)"]
    assert one_run["bytes (refined)"].tolist() == [45, 77]
    assert one_run.refined.tolist() == effect.refined[:2].tolist()


def test_readers_find_the_stages_files_and_name_the_stage_that_writes_a_missing_one(inversions, base, tmp_path):
    run = paths.RunDir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"invert_seen\.csv is missing.*make invert PROFILE=p"):
        analysis.read_inversions(run, "p")
    for name, table in inversions.items():
        table.to_csv(run.inversion_csv(name), index=False)
    assert list(analysis.read_inversions(tmp_path, "p")) == list(paths.INVERSIONS)
    base.to_csv(run.baselines_csv, index=False)
    assert len(analysis.read_baselines(run, "p")) == len(base)
    for reader, target in ((analysis.read_residual, "make residual"), (analysis.read_tradeoff, "make tradeoff")):
        with pytest.raises(FileNotFoundError, match=target):
            reader(run, "p")
    np.savez(run.inversion_npz("unseen"), ids=np.array([5, 6]), originals=np.zeros((2, 28, 28, 1), np.uint8))
    assert analysis.read_inversion_images(run, "p")["ids"].tolist() == [5, 6]


def test_check_params_names_the_parameter():
    analysis.check_params(8, 6, 5)
    for given, name in (((0, 6, 5), "gan_bits"), ((8, 65, 5), "n_grid"), ((8, 6, 0), "bit_error_trials")):
        with pytest.raises(ValueError, match=f"^{name}="):
            analysis.check_params(*given)


def test_verdict_rate_holds_partly_and_fails(rd):
    v = analysis.verdict_rate(rd, 8)
    assert v.status == analysis.HOLDS  # 0.85 vs 0.65 per split, at 77 vs 200 bytes
    assert v.numbers["unseen"]["ssim_gan"] == pytest.approx(0.85)
    assert v.numbers["unseen"]["ssim_ref"] == pytest.approx(0.65)
    assert v.numbers["unseen"]["rate_ratio"] == pytest.approx(77 / 200)
    assert v.evidence[0].startswith("Unseen images: GAN reversal (8-bit z) reaches SSIM 0.850 at 0.786 bpp")
    worse = rd.copy()
    worse.loc[(worse.split == "seen") & (worse.codec == "gan"), "ssim"] = 0.5
    assert analysis.verdict_rate(worse, 8).status == analysis.PARTLY
    worse.loc[worse.codec == "gan", "ssim"] = 0.5
    assert analysis.verdict_rate(worse, 8).status == analysis.FAILS
    bigger = rd.copy()
    bigger.loc[bigger.codec == "gan", "bpp"] = 3.0  # better SSIM, but not at JPEG q=1's rate
    v = analysis.verdict_rate(bigger, 8)
    assert v.status == analysis.FAILS and "times its rate" in v.evidence[0]


def controlled_table(rows):
    return pd.DataFrame([{"mode": "search", "loss": loss, "metric": m, "n_seen": 8, "n_unseen": 8, "seen": s,
                          "seen_ci95": 0.01, "unseen": u, "unseen_ci95": 0.01, "diff": s - u, "diff_lo": s - u - 0.02,
                          "diff_hi": s - u + 0.02, "p": p} for loss, m, s, u, p in rows])


def test_verdict_seen():
    same = controlled_table([("mse", "ssim", 0.80, 0.79, 0.44), ("mse", "psnr", 22.0, 21.9, 0.8),
                             ("ssim", "ssim", 0.86, 0.85, 0.54), ("ssim", "psnr", 21.0, 20.8, 0.7)])
    v = analysis.verdict_seen(same)
    assert v.status == analysis.FAILS and v.sections == ["Seen versus unseen images at equal loss"]
    assert v.evidence[0] == ("Seed's search (8 seen, 8 unseen images), loss `mse`, SSIM: seen 0.800, unseen 0.790; "
                             "difference +0.010 (95% CI -0.010 to +0.030, Welch p = 0.44): no significant difference.")
    some = same.copy()
    some.loc[0, "p"] = 0.01
    assert analysis.verdict_seen(some).status == analysis.PARTLY
    every = same.assign(p=0.001)
    assert analysis.verdict_seen(every).status == analysis.HOLDS
    assert analysis.verdict_seen(same.iloc[:0]).status == analysis.UNTESTED


def test_verdict_seen_mentions_the_confounded_summary(rd, inversions):
    table = analysis.summary(rd, 8)
    controlled = analysis.equal_loss(pd.concat(inversions.values()), 8)
    v = analysis.verdict_seen(controlled, table, {"seen": "mse", "unseen": "ssim"})
    assert "seen images inverted with `mse`, unseen with `ssim`" in v.evidence[-1]


def test_seed_marks_and_grid_columns(rd):
    marks = analysis.seed_marks(8)
    assert [(m["codec"], m["param"]) for m in marks] == [("gan", 8), ("gan_search", 8), ("png", None), ("kmeans", 4),
                                                          ("jpeg", 10), ("jpeg", 1), ("webp", 0)]
    assert [m["label"] for m in marks if m["label"]] == ["GAN 8 bits", "JPEG q=1"]
    cols = analysis.grid_columns(rd, [5, 6], 8)
    assert [c["scheme"] for c in cols] == ["gan", "gan_search", "png", "kmeans4", "jpeg10", "jpeg1", "webp0"]
    assert cols[0]["label"] == "GAN reversal, 8 bits" and cols[0]["ssim"] == pytest.approx(0.85)
    with_learned = pd.concat([rd, rd[rd.scheme == "webp0"].assign(codec="factorized", param=0.01, bpp=0.9),
                              rd[rd.scheme == "webp0"].assign(codec="factorized", param=0.1, bpp=3.0)])
    cols = analysis.grid_columns(with_learned, [5, 6], 8)
    assert (cols[-1]["codec"], cols[-1]["param"]) == ("factorized", 0.01)  # closest to GAN's 0.79 bpp


def test_rd_contents(rd):
    contents = analysis.rd_contents(rd).set_index("codec")
    assert contents.loc["jpeg", "values"] == "1, 10" and contents.loc["jpeg", "rows"] == 8
    assert contents.loc["png", "values"] == "—" and contents.loc["gan", "unseen images"] == 2


class Identity:
    """A 'codec' whose file is the raw pixels: decoding fails on a wrong length."""

    def decode(self, data):
        if len(data) != 64:
            raise ValueError("bad length")
        return np.frombuffer(data, np.uint8).reshape(8, 8, 1)

    def payload_span(self, data):
        return 0, len(data)


def test_bit_error_study_and_summary():
    originals = np.arange(128, dtype=np.uint8).reshape(2, 8, 8, 1)
    c = Identity()
    cases = [analysis.BitErrorCase("raw", "png", c.decode, c.payload_span, [o.tobytes() for o in originals]),
             analysis.BitErrorCase("broken", "jpeg", c.decode, c.payload_span, [b"x", b"y"])]
    raw = analysis.bit_error_study(cases, originals, [0.0, 0.5], trials=2, seed=0)
    assert len(raw) == 2 * 2 * 2 * 2 and list(raw.scheme.drop_duplicates()) == ["raw", "broken"]
    s = analysis.bit_error_summary(raw)
    assert list(s.columns) == ["scheme", "ber", "ssim", "failure_rate", "note"]
    clean = s[(s.scheme == "raw") & (s.ber == 0.0)].iloc[0]
    assert clean.ssim == 1.0 and clean.failure_rate == 0.0 and clean.note is None
    broken = s[s.scheme == "broken"]
    assert (broken.failure_rate == 1.0).all() and broken.ssim.isna().all() and (broken.note == "no-decode").all()


def test_stage_times_and_environment(tmp_path):
    start, end = "2026-01-01T10:00:00+00:00", "2026-01-01T10:00:03.5+00:00"
    for name, meta in (("01_data", {"papermill": {"duration": 3.5, "start_time": start, "end_time": end}}),
                       ("02_train_gan", {}),
                       ("05_results", {"papermill": {"duration": 9.0}})):
        (tmp_path / f"{name}.ipynb").write_text(json.dumps({"metadata": meta, "cells": []}))
    times = analysis.stage_times(tmp_path)
    assert list(times.notebook) == ["01_data", "02_train_gan"]  # 05 excluded: it is the one running
    assert times.seconds[0] == 3.5 and np.isnan(times.seconds[1]) and times.note[1] == "no-duration"
    assert times.start[0] == start and np.isnan(analysis.stages_span(times))  # 02 has no times
    assert analysis.stages_span(times[:1]) == 3.5
    (tmp_path / "learned.json").write_text(json.dumps({"n": 8, "m": 12, "runs": [
        {"model": "factorized", "lambda": 0.01, "steps": 20, "seconds": 2.5}]}))
    env = dict(zip(*provenance.environment(tmp_path).T.values))
    assert set(env) == {"Libraries", "Codecs", "Machine", "Learned codecs"}
    assert env["Learned codecs"] == "N=8, M=12: factorized λ=0.01: 20 steps in 2.5 s (total 2 s)"
    assert "JPEG: libjpeg-turbo" in env["Codecs"]


def test_bd_rate_table_of_another_test_codec_with_overlap_shares():
    table = curve_table({
        ("unseen", "gan"): [(4, 0.4, 0.70, 18.0), (8, 0.8, 0.80, 20.0)],
        ("unseen", "jpeg"): [(1, 0.8, 0.70, 18.0), (10, 1.6, 0.80, 20.0)],
        ("unseen", "gan_residual"): [(0.01, 0.8, 0.75, 19.0), (0.1, 1.6, 0.95, 24.0)],  # half its range is jpeg's
    })
    bd = analysis.bd_rate_table(table, test="gan_residual").set_index("codec")
    assert list(bd.index) == ["gan", "jpeg"]
    assert bd.loc["jpeg", "psnr_overlap_test"] == pytest.approx(0.2)  # 19..20 of 19..24
    assert bd.loc["jpeg", "psnr_overlap_ref"] == pytest.approx(0.5)  # 19..20 of 18..20
    assert analysis.bd_rate_table(table).set_index("codec").loc["jpeg", "ssim_overlap_test"] == pytest.approx(1.0)


def test_training_budget_lists_every_model_with_totals(tmp_path):
    (tmp_path / "generator.json").write_text(json.dumps({"steps": 3000, "batch_size": 64, "seconds": 200.0}))
    (tmp_path / "encoder.json").write_text(json.dumps({"synthetic_steps": 10, "real_steps": 5, "batch_size": 64,
                                                       "seconds": 50.0}))
    run = {"steps": 100, "batch_size": 16}
    (tmp_path / "residual.json").write_text(json.dumps({"train_images": 64, "base_seconds": 5.0, "runs": [
        {**run, "model": "conditional", "lambda": 0.01, "seconds": 20.0}]}))
    (tmp_path / "learned.json").write_text(json.dumps({"runs": [
        {**run, "model": "factorized", "lambda": 0.01, "seconds": 30.0},
        {**run, "model": "factorized", "lambda": 0.1, "seconds": 40.0},
        {**run, "model": "hyperprior", "lambda": 0.01, "seconds": 45.0}]}))
    budget = analysis.training_budget(tmp_path)
    totals = budget[budget.model.str.startswith("total")].set_index("codec").seconds
    assert totals.to_dict() == {"gan": 250.0, "gan_residual": 275.0, "factorized": 70.0, "hyperprior": 45.0}
    assert budget[budget.model == "encoder (+ prior fit)"].steps.item() == 15
    assert analysis.training_budget(tmp_path / "missing").empty


def per_image_rd(curves: dict, n: int = 40, noise: float = 0.02, seed: int = 0) -> pd.DataFrame:
    """rd rows of ``n`` images per codec and parameter: each point of ``curves`` ({codec: [(param, bpp,
    ssim), ...]}) plus per-image noise: a part shared by every codec on an image (they code the same
    images; some are harder) and a part of the codec's own."""
    rng = np.random.default_rng(seed)
    hard = rng.normal(0, noise, n)
    own = {c: rng.normal(0, noise, n) for c in curves}
    return pd.DataFrame([{"codec": c, "param": p, "split": "unseen", "image_id": i, "bpp": b * (1 + hard[i]),
                          "ssim": q - hard[i] + own[c][i], "psnr": np.nan} for c, pts in curves.items()
                         for p, b, q in pts for i in range(n)])


def test_bd_rate_intervals_hold_the_value_and_shrink_with_more_images():
    points = {"gan": [(4, 0.4, 0.70), (8, 0.8, 0.80)], "jpeg": [(1, 0.8, 0.70), (10, 1.6, 0.80)],
              "gan_search": [(4, 9.0, 0.1), (8, 9.9, 0.2)]}  # another mode of GAN reversal: not compared
    width = {}
    for n in (20, 200):
        rd = per_image_rd(points, n)
        bd = analysis.bd_rate_table(analysis.curves(rd), ["ssim"])
        ci = analysis.bd_rate_intervals(rd, ["ssim"], resamples=200)
        assert list(ci.codec) == ["jpeg"] and ci.n_images.tolist() == [n]
        value = bd.set_index("codec").loc["jpeg", "ssim"]
        assert ci.ssim_lo.iloc[0] < value < ci.ssim_hi.iloc[0]
        width[n] = ci.ssim_hi.iloc[0] - ci.ssim_lo.iloc[0]
        assert ci.equals(analysis.bd_rate_intervals(rd, ["ssim"], resamples=200))  # seeded
    assert width[200] < width[20] / 2  # about 1 / sqrt(10)


def test_strongest_learned_and_the_fair_fight_verdict():
    bd = pd.DataFrame([
        {"split": "unseen", "codec": "jpeg", "ssim": 50.0, "ssim_lo": 40.0, "ssim_hi": 60.0},
        {"split": "unseen", "codec": "factorized", "ssim": -30.0, "ssim_lo": -40.0, "ssim_hi": -20.0},
        {"split": "unseen", "codec": "hyperprior_ssim", "ssim": -5.0, "ssim_lo": -12.0, "ssim_hi": 3.0},
        {"split": "seen", "codec": "factorized", "ssim": -30.0, "ssim_lo": -40.0, "ssim_hi": -20.0}])
    strongest = analysis.strongest_learned(bd, ["ssim"])
    assert list(zip(strongest.split, strongest.codec)) == [("unseen", "hyperprior_ssim"), ("seen", "factorized")]
    v = analysis.verdict_learned(strongest)
    assert v.status == analysis.PARTLY  # seen: won; unseen: the interval holds zero
    assert "no difference the interval can tell" in v.evidence[0] and "needs fewer bits" in v.evidence[1]
    assert analysis.verdict_learned(strongest.iloc[1:]).status == analysis.HOLDS
    assert analysis.verdict_learned(strongest.assign(lo=5.0, hi=9.0)).status == analysis.FAILS
    assert analysis.verdict_learned(strongest.iloc[:0]).status == analysis.UNTESTED


def test_learned_convergence():
    rows = []
    for n, m, steps in ((32, 64, 4), (64, 96, 2)):
        for step in (1, 2, 4):
            if step > steps:
                continue
            for lam, bpp in ((0.001, 0.5), (0.01, 1.0)):  # each doubling halves the rate at equal PSNR
                scale = 4 / step if n == 32 else 1.0  # the wider model at 2 steps: the narrow one's final rate
                rows.append({"family": "factorized", "n": n, "m": m, "steps": steps, "step": step, "lambda": lam,
                             "bpp": bpp * scale, "psnr": 20 + 10 * bpp, "ssim": 0.5 + 0.1 * bpp})
    table = analysis.learned_convergence(pd.DataFrame(rows)).set_index("n")
    assert table.loc[32, "metric"] == "psnr" and table.loc[32, "doubling"] == pytest.approx(-50.0)
    assert np.isnan(table.loc[32, "wider"])
    assert table.loc[64, "wider"] == pytest.approx(-50.0)  # against the narrow model at step 2 (twice its rate)
