import dataclasses

import numpy as np
import pytest
import torch
from matplotlib import colors, markers

from ganlib import baselines, invert, learned, schemes


def test_codec_ids_and_order():
    assert list(schemes.FAMILIES) == ["gan", "png", "kmeans", "jpeg", "webp", "j2k", "avif", "factorized", "hyperprior",
                                      "gan_residual", "gan_residual_webp"]
    assert list(schemes.SUMMARY) == ["gan", "png", "kmeans4", "jpeg10", "jpeg1", "webp0"]
    assert schemes.order(["hyperprior", "zzz", "jpeg", "gan", "jpeg"]) == ["gan", "jpeg", "hyperprior", "zzz"]
    assert schemes.rank("gan") == 0 and schemes.rank("nope") == len(schemes.FAMILIES)


def test_every_family_has_its_own_valid_colour_and_marker():
    families = list(schemes.FAMILIES.values())
    assert len({f.colour for f in families}) == len(families)
    assert len({f.marker for f in families}) == len(families)
    for f in families:
        assert colors.is_color_like(f.colour) and f.marker in markers.MarkerStyle.markers
        assert f.style() == {"color": f.colour, "marker": f.marker, "label": f.label}


def test_register_refuses_a_clash_and_leaves_room_for_a_new_family():
    gan = schemes.family("gan")
    with pytest.raises(ValueError, match="same colour and marker as 'gan'"):
        schemes.register(dataclasses.replace(gan, id="gan_new"))
    with pytest.raises(ValueError, match="same id as 'gan_residual'"):
        schemes.register(dataclasses.replace(gan, id="gan_residual", colour="#000001", marker="8"))
    new = dataclasses.replace(gan, id="gan_new", label="GAN reversal, new", colour="#000001", marker="8")
    try:
        schemes.register(new)
        assert schemes.order(["gan_new", "hyperprior"]) == ["hyperprior", "gan_new"]
    finally:
        schemes.FAMILIES.pop("gan_new")


def test_labels_and_scheme_ids():
    assert [s.label for s in schemes.SUMMARY.values()] == [
        "GAN reversal", "PNG (lossless)", "K-means, K=4", "JPEG q=10", "JPEG q=1", "WebP q=0"]
    assert schemes.label("jpeg", 1) == "JPEG q=1" and schemes.label("jpeg", 1.0) == "JPEG q=1"
    assert schemes.label("kmeans", 4) == "K-means, K=4" and schemes.label("png") == "PNG"
    assert schemes.label("gan", 8.0) == "GAN reversal, 8 bits"
    assert schemes.label("j2k", 20) == "JPEG 2000 (20 dB)"
    assert schemes.label("factorized", 0.0018) == "learned: factorized prior, λ=0.0018"
    assert schemes.scheme_id("jpeg", 1.0) == "jpeg1" and schemes.scheme_id("factorized", 0.01) == "factorized0.01"
    assert schemes.scheme_id("png", float("nan")) == "png" and schemes.scheme_id("gan", 8.0) == "gan"
    with pytest.raises(ValueError, match="codec='bpg' is not allowed; choose one of: gan, png"):
        schemes.family("bpg")
    with pytest.raises(ValueError, match="scheme='jpeg2' is not allowed"):
        schemes.scheme("jpeg2")


def test_baselines_read_the_registry():
    assert baselines.SCHEMES == {"png": ("png", None), "kmeans4": ("kmeans", 4), "jpeg10": ("jpeg", 10),
                                 "jpeg1": ("jpeg", 1), "webp0": ("webp", 0)}
    assert baselines.PARAMS["jpeg"] == ("quality", 1, 95) and baselines.PARAMS["kmeans"] == ("K", 2, 256)
    assert set(baselines.PARAMS) | {"png"} == set(baselines.CODECS) == {f.id for f in schemes.of_kind("classical")}
    assert baselines.sweep({"jpeg": [1, 10], "kmeans": [4]}) == [("png", None), ("jpeg", 1), ("jpeg", 10),
                                                                ("kmeans", 4)]
    with pytest.raises(ValueError, match="webp parameter=101"):
        baselines.sweep({"webp": [0, 101]})


@pytest.mark.parametrize("family", [f.id for f in schemes.of_kind("classical")])
def test_classical_factories(family, images):
    param = None if family == "png" else schemes.family(family).low + 2
    c = schemes.codec(family, param)
    assert c.name == family and c.param == param
    assert c.decode(c.encode(images[0])).shape == images[0].shape


def test_gan_factory(small_generator, images, tmp_path):
    c = schemes.codec("gan", 6, generator=small_generator)
    assert isinstance(c, invert.GanCodec) and c.param == 6 and c.id == "gan6"
    with pytest.raises(ValueError, match="needs its generator"):
        schemes.codec("gan", 8)


def test_learned_factory_loads_the_run(tmp_path):
    torch.manual_seed(0)
    model = learned.build(1, 8, 12, "factorized").eval()
    model.update(force=True)
    learned.save(learned.checkpoint(tmp_path, "factorized", 0.01), model)
    (tmp_path / "learned.json").write_text('{"n": 8, "m": 12, "runs": []}')
    c = schemes.codec("factorized", 0.01, run=tmp_path, shape=(28, 28, 1))
    assert c.id == "factorized0.01"
    image = np.zeros((28, 28, 1), np.uint8)
    assert c.encode(image) == learned.Learned(model, 0.01, (28, 28, 1)).encode(image)
    with pytest.raises(ValueError, match="give run= and shape="):
        schemes.codec("hyperprior", 0.01)
