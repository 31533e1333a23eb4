import pytest

from ganlib.codecs.gan import GanCodec
from ganlib.evaluation import targets
from ganlib.inversion import invert
from ganlib.pipeline import heldout

GOOD = {"held_out_class": 8, "n_images": 4, "grid": 2, "seed": 0, "gan": {}, "encoder": {}, "residual": {},
        "targets": ["ssim=0.9"]}


@pytest.mark.parametrize("change, message", [({"held_out_class": 10}, "held_out_class"), ({"grid": 5}, "grid"),
                                             ({"targets": ["lpips=1"]}, "--target"), ({"extra": 1}, "extra")])
def test_bad_settings_name_the_key(change, message):
    with pytest.raises(ValueError, match=message):
        heldout.check_settings({**GOOD, **change})


def test_each_group_gets_the_base_layer_the_ladder_and_webp(small_generator, images):
    gan = GanCodec(small_generator, 8, invert.InversionConfig(loss="mse", steps=5, restarts=1, refine_steps=1))
    groups = {"held-out": images[:3], "others": images[3:6]}
    table, grid = heldout.evaluate(GOOD, gan, [], 6, groups)
    assert list(dict.fromkeys(table.group)) == ["held-out", "others"]
    assert set(table.what) == {"base layer alone, 8 bits", "compress --target ssim=0.9", "WebP per image, ssim=0.9"}
    ladder_rows = table[table.what.str.startswith("compress")]
    assert (ladder_rows.met == 1).all() and (ladder_rows.ssim >= 0.9).all()
    assert grid["held-out_originals"].shape == grid["held-out_base"].shape == (2, 28, 28, 1)


def test_webp_per_image_meets_a_reachable_target(images):
    met, mean_bytes = heldout.webp_target(images[:2], targets.parse("ssim=0.5"))
    assert met == 1.0 and mean_bytes > 0
