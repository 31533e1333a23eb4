import dataclasses

import numpy as np
import pytest
import torch
from matplotlib import colors, markers

from ganlib.codecs import classical, families, zoo
from ganlib.codecs.gan import GanCodec
from ganlib.codecs.learned import Learned
from ganlib.core import paths
from ganlib.models import learned


def test_codec_ids_and_order():
    assert list(families.FAMILIES) == ["gan", "gan_search", "gan_encoder", "png", "kmeans", "jpeg", "webp", "j2k",
                                       "avif", "factorized", "hyperprior", "factorized_ssim", "hyperprior_ssim",
                                       "gan_residual", "gan_residual_webp"]
    assert list(families.SUMMARY) == ["gan", "gan_search", "png", "kmeans4", "jpeg10", "jpeg1", "webp0"]
    assert [f.id for f in families.of_kind(families.GAN)] == ["gan", "gan_search", "gan_encoder"]
    assert families.is_gan("gan_search") and not families.is_gan("jpeg") and not families.is_gan("nope")
    assert families.order(["hyperprior", "zzz", "jpeg", "gan", "jpeg"]) == ["gan", "jpeg", "hyperprior", "zzz"]
    assert families.rank("gan") == 0 and families.rank("nope") == len(families.FAMILIES)


def test_every_family_has_its_own_valid_colour_and_marker():
    fams = list(families.FAMILIES.values())
    assert len({f.colour for f in fams}) == len(fams)
    assert len({f.marker for f in fams}) == len(fams)
    for f in fams:
        assert colors.is_color_like(f.colour) and f.marker in markers.MarkerStyle.markers
        assert f.style() == {"color": f.colour, "marker": f.marker, "label": f.label}


def test_register_refuses_a_clash_and_leaves_room_for_a_new_family():
    gan = families.family("gan")
    with pytest.raises(ValueError, match="same colour and marker as 'gan'"):
        families.register(dataclasses.replace(gan, id="gan_new"))
    with pytest.raises(ValueError, match="same id as 'gan_residual'"):
        families.register(dataclasses.replace(gan, id="gan_residual", colour="#000001", marker="p"))
    new = dataclasses.replace(gan, id="gan_new", label="GAN reversal, new", colour="#000001", marker="p")
    try:
        families.register(new)
        assert families.order(["gan_new", "hyperprior"]) == ["hyperprior", "gan_new"]
    finally:
        families.FAMILIES.pop("gan_new")


def test_labels_and_scheme_ids():
    assert [s.label for s in families.SUMMARY.values()] == [
        "GAN reversal, command line's mode", "GAN reversal, seed's search", "PNG (lossless)", "K-means, K=4",
        "JPEG q=10", "JPEG q=1", "WebP q=0"]
    assert families.label("jpeg", 1) == "JPEG q=1" and families.label("jpeg", 1.0) == "JPEG q=1"
    assert families.label("kmeans", 4) == "K-means, K=4" and families.label("png") == "PNG"
    assert families.label("gan", 8.0) == "GAN reversal, 8 bits"
    assert families.label("j2k", 20) == "JPEG 2000 (20 dB)"
    assert families.label("factorized", 0.0018) == "learned: factorized prior, λ=0.0018"
    assert families.scheme_id("jpeg", 1.0) == "jpeg1" and families.scheme_id("factorized", 0.01) == "factorized0.01"
    assert families.scheme_id("png", float("nan")) == "png" and families.scheme_id("gan", 8.0) == "gan"
    assert families.scheme_id("gan_search", 4) == "gan_search" and families.scheme_id("factorized_ssim", 6) == (
        "factorized_ssim6")
    with pytest.raises(ValueError, match="codec='bpg' is not allowed; choose one of: gan, gan_search"):
        families.family("bpg")
    with pytest.raises(ValueError, match="scheme='jpeg2' is not allowed"):
        families.scheme("jpeg2")


def test_each_codec_owns_its_range_and_the_registry_lists_every_codec():
    assert classical.PARAMS["jpeg"] == classical.JPEG.knob == ("quality", 1, 95)
    assert GanCodec.knob == ("bits per latent dimension", 1, 16) and classical.PNG.knob is None
    assert set(zoo.FACTORIES) == set(families.FAMILIES)
    assert classical.PARAMS["jpeg"] == ("quality", 1, 95) and classical.PARAMS["kmeans"] == ("K", 2, 256)
    assert set(classical.PARAMS) | {"png"} == set(classical.CODECS) == {f.id for f in families.of_kind("classical")}
    assert classical.sweep({"jpeg": [1, 10], "kmeans": [4]}) == [("png", None), ("jpeg", 1), ("jpeg", 10),
                                                                ("kmeans", 4)]
    with pytest.raises(ValueError, match="webp parameter=101"):
        classical.sweep({"webp": [0, 101]})


@pytest.mark.parametrize("family", [f.id for f in families.of_kind("classical")])
def test_classical_factories(family, images):
    param = None if family == "png" else classical.CODECS[family].knob[1] + 2
    c = zoo.codec(family, param)
    assert c.name == family and c.param == param
    assert c.decode(c.encode(images[0])).shape == images[0].shape


def test_gan_factory(small_generator, images, tmp_path):
    c = zoo.codec("gan", 6, generator=small_generator)
    assert isinstance(c, GanCodec) and c.param == 6 and c.id == "gan6"
    with pytest.raises(ValueError, match="needs its generator"):
        zoo.codec("gan", 8)


def test_learned_factory_loads_the_run(tmp_path):
    torch.manual_seed(0)
    model = learned.build(1, 8, 12, "factorized").eval()
    model.update(force=True)
    learned.save(paths.RunDir(tmp_path).learned_model("factorized", 0.01), model)
    paths.RunDir(tmp_path).learned_meta.write_text('{"n": 8, "m": 12, "runs": []}')
    c = zoo.codec("factorized", 0.01, run=tmp_path, shape=(28, 28, 1))
    assert c.id == "factorized0.01"
    image = np.zeros((28, 28, 1), np.uint8)
    assert c.encode(image) == Learned(model, 0.01, (28, 28, 1)).encode(image)
    with pytest.raises(ValueError, match="give run= and shape="):
        zoo.codec("hyperprior", 0.01)
