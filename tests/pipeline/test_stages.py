"""ganlib.pipeline.stages: each notebook's work, on tiny inputs; every file it writes is where the
run directory names it, and the rows are scored from those files."""
import json

import numpy as np
import pandas as pd
import pytest

from ganlib.codecs import classical, families
from ganlib.codecs.gan import GanCodec
from ganlib.core import paths
from ganlib.data import datasets
from ganlib.formats import layered_format
from ganlib.inversion import invert, modes
from ganlib.models import encoder, prior
from ganlib.models.nets import Encoder, init_weights
from ganlib.pipeline import stages


@pytest.fixture
def arrays(images):
    """Eight training images, eight held out (the same, flipped), two seen and three unseen evaluation images."""
    return {"train": images, "test": images[:, ::-1].copy(), "seen_ids": np.array([0, 1]),
            "unseen_ids": np.array([1, 4, 6])}


@pytest.fixture
def gan(small_generator):
    """GAN reversal with a short search and refinement, under the unit prior."""
    return GanCodec(small_generator, 6, invert.InversionConfig(loss="mse", steps=3, restarts=1, refine_steps=2))


def test_split_images(arrays):
    ids, images = stages.split_images(arrays, "unseen")
    assert ids.tolist() == [1, 4, 6] and np.array_equal(images, arrays["test"][[1, 4, 6]])
    ids, images = stages.split_images(arrays, "seen", 1)
    assert ids.tolist() == [0] and np.array_equal(images, arrays["train"][[0]])


def test_prepare_data_writes_what_it_returns(tmp_path):
    run = paths.RunDir(tmp_path)
    arrays = stages.prepare_data(run, "shapes", None, 28, 1, 3, 0.25, 40, 5)
    assert set(arrays) == {"train", "test", "seen_ids", "unseen_ids", "train_labels", "test_labels", "classes"}
    for split in datasets.SPLITS:
        assert arrays[f"{split}_ids"].tolist() == datasets.eval_images(arrays, split, 5, 3)[1].tolist()
    with np.load(run.data) as saved:
        assert set(saved.files) == set(arrays) and all(np.array_equal(saved[k], arrays[k]) for k in arrays)
    again = stages.data_arrays("shapes", None, 28, 1, 3, 0.25, 40, 5)  # the study's: the same, not written
    assert all(np.array_equal(again[k], arrays[k]) for k in arrays)


def test_train_encoder_writes_the_prior_then_the_encoder_last(small_generator, arrays, tmp_path, monkeypatch):
    order = []

    def spy(module, name):
        wrapped = getattr(module, name)

        def call(*args, **kwargs):
            order.append(name)
            return wrapped(*args, **kwargs)
        monkeypatch.setattr(module, name, call)

    for module, name in ((encoder, "fit_metric"), (modes, "hybrid_latents"), (prior, "save"),
                         (encoder, "save_encoder")):
        spy(module, name)
    run = paths.RunDir(tmp_path)
    E, history, P, n_fit = stages.train_encoder(run, small_generator, arrays, 2, 2, 1.4, 4, 0.001, 0)
    assert order == ["fit_metric", "hybrid_latents", "save", "save_encoder"]  # the weights mark the stage complete
    assert n_fit == len(arrays["train"]) - len(arrays["seen_ids"]) and len(history["loss"]) == 4
    assert prior.load(run, small_generator).fingerprint == P.fingerprint
    meta = json.loads(run.encoder_config.read_text())
    assert meta["prior_model_fingerprint"] == P.fingerprint.hex() and meta["synthetic_std"] == 1.4
    assert meta["encoder_parameters"] == sum(p.numel() for p in E.parameters())
    assert np.array_equal(encoder.load_encoder(run, small_generator).metric, E.metric)
    images, recon, ssim = stages.encoder_guesses(small_generator, E, arrays)
    assert [len(images[s]) for s in datasets.SPLITS] == [2, 3] and recon["unseen"].shape == (3, 28, 28, 1)
    assert 0 < ssim["seen"] < 1
    sizes = stages.prior_savings(small_generator, E, P, images["unseen"], bits=(4, 8))
    assert list(sizes.index) == ["4 bits", "8 bits"] and list(sizes.columns) == ["unit prior N(0, 1)", "fitted prior",
                                                                                "raw"]
    assert (sizes.to_numpy() > 0).all()


def test_inversion_settings_check_the_parameters():
    name, config, bits = stages.inversion_settings("seen", "", 8, [8, 4], loss="mse", steps=5)
    assert name == "seen" and config.loss == "mse" and config.steps == 5 and bits == [4, 8]
    assert stages.inversion_settings("unseen", "unseen_mse", 8, 4)[0] == "unseen_mse"
    for args, search, message in ((("both", "", 8, 4), {}, "^split="), (("seen", "Seen", 8, 4), {}, "^name="),
                                  (("seen", "", 0, 4), {}, "^n_images="), (("seen", "", 8, 0), {}, "^bits="),
                                  (("seen", "", 8, 4), {"loss": "l3"}, "loss")):
        with pytest.raises(ValueError, match=message):
            stages.inversion_settings(*args, **search)


def test_invert_files_scores_rounded_bytes_and_the_refined_files_on_disk(gan, images, tmp_path):
    run, ids, originals = paths.RunDir(tmp_path), np.array([5, 2, 7]), images[[5, 2, 7]]
    result = gan.search(originals)
    floats = np.stack([gan.decode(gan.pack(s, 16)) for s in gan.refined_symbols(originals, result, 16)])
    logged = []
    table, decoded = stages.invert_files(gan, originals, ids, result, floats, [4, 6], run, "unseen_mse", "unseen",
                                         "mse", log=logged.append)
    assert list(table.columns[:9]) == ["split", "mode", "loss", "image_id", "bits", "stage", "psnr", "mse", "ssim"]
    assert list(zip(table.stage, table.bits.fillna(0).astype(int))) == (
        [("float", 0)] * 3 + [("rounded", 4)] * 3 + [("refined", 4)] * 3 + [("rounded", 6)] * 3 + [("refined", 6)] * 3)
    assert (table.split == "unseen").all() and (table.loss == "mse").all() and table.image_id.tolist() == [5, 2, 7] * 5
    assert len(logged) == 2 and logged[0].startswith("4 bits: mean file")
    refined = table[table.stage == "refined"]
    for r in refined.itertuples():
        blob = run.latent_file("unseen_mse", r.bits, r.image_id).read_bytes()
        assert r.bytes == len(blob) and gan.unpack(blob).bits == r.bits
    assert sorted(p.name for p in (tmp_path / "latents" / "unseen_mse").iterdir()) == ["b4", "b6"]  # rounded: none
    assert decoded[6].shape == (3, 28, 28, 1)
    pd.testing.assert_frame_equal(pd.read_csv(run.inversion_csv("unseen_mse")), table, check_dtype=False)
    with np.load(run.inversion_npz("unseen_mse")) as npz:
        assert sorted(npz.files) == ["decoded_b4", "decoded_b6", "float_images", "ids", "originals"]
        assert npz["ids"].tolist() == [5, 2, 7] and np.array_equal(npz["decoded_b6"], decoded[6])
    # the study's files: the same refined rows, without the rounded control
    rows, again = stages.latent_files(gan, originals, ids, result, [4, 6], tmp_path / "other", "unseen",
                                      rounded=False)
    assert [r["stage"] for r in rows] == ["refined"] * 6 and np.array_equal(again[4], decoded[4])
    assert [r["bytes"] for r in rows] == refined.bytes.tolist()


def test_measure_modes_writes_every_mode_of_both_splits(small_generator, arrays, tmp_path):
    E = Encoder(small_generator.config).apply(init_weights).eval()  # untrained: its guess starts the encoder mode
    search = invert.InversionConfig(loss="mse", steps=2, restarts=1, refine_steps=2)
    mode_list = [modes.Mode("encoder", modes.hybrid_config("mse", 0)), modes.Mode("search", search)]
    run = paths.RunDir(tmp_path)
    table = stages.measure_modes(run, small_generator, E, None, arrays, mode_list, 6, 2, "mse")
    assert list(table.columns[:4]) == ["split", "loss", "mode", "optimizer"]
    assert list(dict.fromkeys(zip(table.split, table["mode"]))) == [("unseen", "encoder"), ("unseen", "search"),
                                                                    ("seen", "encoder"), ("seen", "search")]
    assert table.groupby("split").image_id.unique().map(list).to_dict() == {"unseen": [1, 4], "seen": [0, 1]}
    for r in table.itertuples():
        slug = next(m.slug for m in mode_list if m.name == r.mode)
        folder = run.tradeoff_dir(r.split, slug)
        assert r.bytes == len((folder / paths.latent_name(r.image_id)).read_bytes())
    assert pd.read_csv(run.tradeoff_csv).shape == table.shape


def test_score_baselines_keeps_the_seed_schemes_and_learned_images(arrays, tmp_path):
    run = paths.RunDir(tmp_path)
    codecs = [classical.codec("png"), classical.codec("jpeg", 10), classical.codec("webp", 50)]
    table, decoded = stages.score_baselines(run, arrays, codecs, learned_codecs=codecs[2:])
    assert len(table) == 3 * (2 + 3) and list(dict.fromkeys(table.split)) == ["seen", "unseen"]
    assert ("png", None) in {(s.family, s.param) for s in families.SUMMARY.values()}
    assert list(decoded) == [f"{s}_{c.id}" for s in ("seen", "unseen") for c in codecs]
    table2, decoded2 = stages.score_baselines(paths.RunDir(tmp_path / "b"), arrays, codecs)
    assert list(decoded2) == [f"{s}_{c.id}" for s in ("seen", "unseen") for c in codecs[:2]]  # webp50: not kept
    for r in table.itertuples():
        c = next(c for c in codecs if c.name == r.codec)
        assert r.bytes == len(run.baseline_file(c.id, r.split, r.image_id, c.name).read_bytes())
    pd.testing.assert_frame_equal(pd.read_csv(run.baselines_csv), table, check_dtype=False)
    with np.load(run.baselines_npz) as npz:
        assert list(npz.files) == list(decoded) and np.array_equal(npz["unseen_png"], arrays["test"][[1, 4, 6]])


def test_residual_stage_trains_then_scores_the_layered_files(gan, arrays, tmp_path, monkeypatch):
    run = paths.RunDir(tmp_path)
    layers, budget, train_bpp, meta = stages.train_residual(run, arrays, gan, 6, "mse", 4, [0.01], 2, 2, 0.001, 0,
                                                            8, 12, 1)
    assert meta["train_images"] == 4 and meta["base_seconds"] >= 0 and meta["base_bits"] == 6
    assert [r["lambda"] for r in budget] == [0.01] and list(train_bpp) == ["λ=0.01"]
    assert json.loads(run.residual_meta.read_text())["runs"] == budget
    assert run.learned_model("conditional", 0.01).is_file()
    encoded = []
    encode_batch = gan.encode_batch

    def counted(images, *args, **kwargs):
        encoded.append(len(images))
        return encode_batch(images, *args, **kwargs)

    monkeypatch.setattr(gan, "encode_batch", counted)
    monkeypatch.setattr(stages.os, "cpu_count", lambda: 1)  # one process: the counting codec does not pickle
    table, decoded = stages.score_residual(run, arrays, gan, layers, [50])
    assert encoded == [2, 3]  # each split's base layers once, shared by the three layered codecs
    assert list(dict.fromkeys(table.codec)) == ["gan_residual", "gan_residual_webp"]
    assert list(dict.fromkeys(zip(table.codec, table.param))) == [("gan_residual", 0.0), ("gan_residual", 0.01),
                                                                 ("gan_residual_webp", 50)]
    assert len(decoded) == 2 * 3 and pd.read_csv(run.residual_csv).shape == table.shape
    ids = {("gan_residual", 0.0): "gan_residual0.0", ("gan_residual", 0.01): "gan_residual0.01",
           ("gan_residual_webp", 50): "gan_residual_webp50"}
    assert sorted(p.name for p in (tmp_path / "residual").iterdir()) == sorted(ids.values())
    for r in table.itertuples():
        blob = run.residual_file(ids[r.codec, r.param], r.split, r.image_id, r.codec).read_bytes()
        base_file = layered_format.unpack(blob).base
        assert r.bytes == len(blob) and gan.unpack(base_file).bits == 6
