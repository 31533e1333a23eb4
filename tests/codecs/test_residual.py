import binascii
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganlib.codecs import residual, zoo
from ganlib.codecs.gan import GanCodec
from ganlib.core import paths
from ganlib.evaluation import metrics
from ganlib.formats import latent_format, layered_format
from ganlib.inversion import invert
from ganlib.models import checkpoints, learned, prior


@pytest.fixture
def base(small_generator):
    """A GAN codec on the small generator with a short search (the base layer)."""
    return GanCodec(small_generator, 6, invert.InversionConfig(loss="mse", steps=20, restarts=1, refine_steps=2))


@pytest.fixture
def conditional():
    torch.manual_seed(0)
    model = learned.build(channels=1, n=8, m=12, model="conditional").eval()
    model.update(force=True)
    return residual.LearnedResidual(model, 0.01)


def test_webp_residual_round_trip(images):
    layer = residual.WebpResidual(95)
    bases = images[::-1]
    for x, b in zip(images, bases):
        decoded = layer.decode(layer.encode(x, b), b)
        assert decoded.shape == x.shape and decoded.dtype == np.uint8
        assert metrics.psnr(x, decoded) > 35  # residual halved: about 2 grey levels of error at most
    assert metrics.psnr(images[0], layer.decode(residual.WebpResidual(5).encode(images[0], bases[0]), bases[0])) < 35


@pytest.mark.parametrize("layer", ["learned", "webp"])
def test_layered_file_holds_a_base_layer_that_decodes_alone(images, base, conditional, layer):
    enhancement = conditional if layer == "learned" else residual.WebpResidual(50)
    layered = residual.Layered(base, enhancement)
    assert layered.name == enhancement.family and layered.param == enhancement.param
    blobs = layered.encode_batch(images[:3])
    for blob, x in zip(blobs, images[:3]):
        f = layered_format.unpack(blob)
        assert f.kind == enhancement.kind and f.coder == enhancement.coder
        assert np.array_equal(layered.decode_base(blob), base.decode(f.base))  # the base decoder alone
        decoded = layered.decode(blob)
        assert decoded.shape == x.shape and decoded.dtype == np.uint8
        assert np.array_equal(residual.Decoder(base, [conditional]).decode(blob), decoded)  # the command line's
        assert layered.payload_span(blob) == (2 + latent_format.HEADER_BYTES, len(blob) - 2)
    assert np.array_equal(layered.decode_batch(blobs), np.stack([layered.decode(b) for b in blobs]))
    # the base layers encoded once can be shared by several enhancement rates
    shared = layered.encode_batch(images[:3], [layered_format.unpack(b).base for b in blobs])
    assert shared == blobs


def test_layered_decoding_refuses_damage_and_other_coders(images, base, conditional):
    layered = residual.Layered(base, residual.WebpResidual(50))
    blob = layered.encode(images[0])
    with pytest.raises(latent_format.CodecError):
        layered.decode(blob[:3])
    f = layered_format.unpack(blob)
    with pytest.raises(latent_format.CodecError, match="corrupt enhancement layer"):
        layered.decode(layered_format.pack(layered_format.LayeredFile("webp", f.base, b"not webp")))
    with pytest.raises(latent_format.CodecError, match="checksum"):
        layered.decode(blob[:3] + bytes([blob[3] ^ 1]) + blob[4:])
    with pytest.raises(latent_format.CodecError, match="not of this codec's learned"):
        residual.Layered(base, conditional).decode(blob)
    learned_file = residual.Layered(base, conditional).encode(images[0])
    with pytest.raises(latent_format.CodecError, match="which this model does not have"):
        residual.Decoder(base).decode(learned_file)


@pytest.mark.parametrize("kwargs, name", [({"base_bits": 0}, "base_bits"), ({"lambdas": [0]}, "lambdas"),
                                          ({"webp": [101]}, "webp"), ({"train_images": 0}, "train_images"),
                                          ({"steps": 0}, "steps"), ({"batch_size": 0}, "batch_size"),
                                          ({"lr": -1.0}, "lr"), ({"down": 5}, "down")])
def test_check_params_names_the_bad_one(kwargs, name):
    good = {"base_bits": 6, "lambdas": [0.01], "webp": [50], "train_images": 8, "steps": 2, "batch_size": 4,
            "lr": 0.001}
    with pytest.raises(ValueError, match=name):
        residual.check_params(**{**good, **kwargs})


def test_training_subset_is_deterministic(images):
    a, b = residual.training_subset(images, 5, seed=1), residual.training_subset(images, 5, seed=1)
    assert a.shape == (5, 28, 28, 1) and np.array_equal(a, b)
    assert len(residual.training_subset(images, 100)) == len(images)


def test_train_all_saves_models_that_load_as_the_same_codec(images, base, tmp_path):
    bases = residual.base_images(base, images)
    assert bases.shape == images.shape
    layers, budget, train_bpp = residual.train_all(images, bases, tmp_path, [0.01], 3, 4, 0.001, 0, 8, 12, 1,
                                                   {"base_bits": 6, "loss": "mse"})
    meta = json.loads(paths.RunDir(tmp_path).residual_meta.read_text())
    assert meta["base_bits"] == 6 and meta["n"] == 8 and [r["lambda"] for r in meta["runs"]] == [0.01]
    assert list(train_bpp) == ["λ=0.01"] and budget[0]["model"] == "conditional"
    loaded = zoo.layered(tmp_path, "gan_residual", 0.01, base=base)
    original = residual.Layered(base, layers[0])
    blob = original.encode(images[0])
    assert loaded.decode(blob).tolist() == original.decode(blob).tolist()
    with pytest.raises(ValueError, match="family='jpeg' is not allowed"):
        zoo.layered(tmp_path, "jpeg", 1, base=base)


def test_an_empty_enhancement_layer_is_the_base_alone(images, base, tmp_path):
    layered = residual.Layered(base, residual.BaseOnly())
    assert (layered.name, layered.param) == ("gan_residual", 0.0)
    blob = layered.encode(images[0])
    f = layered_format.unpack(blob)
    assert (f.kind, f.enhancement) == ("base", b"") and len(blob) == len(f.base) + 4
    assert np.array_equal(layered.decode(blob), base.decode(f.base))
    meta = {"base_bits": 6, "loss": "mse", "n": 8, "m": 12, "runs": []}
    paths.RunDir(tmp_path).residual_meta.write_text(json.dumps(meta))
    assert isinstance(zoo.layered(tmp_path, "gan_residual", 0, base=base).enhancement, residual.BaseOnly)


# ------------------------------------------------------------------ the layered file, pinned and fuzzed
GOLDEN = Path(__file__).resolve().parents[1] / "golden"


@pytest.fixture(scope="module")
def golden_gan():
    G = checkpoints.load_generator(GOLDEN)
    return GanCodec(G, prior=prior.load(GOLDEN, G))


def test_golden_layered_files(golden_gan):
    """tests/golden/layered_*.grl: the marker byte with the kind, the length byte, the golden latent
    file b8_range.gan byte for byte, the enhancement layer, the CRC-16; the lossless file the marker
    and a PNG. They decode to the committed pixels (base-only and lossless to b8_range.npy, the WebP
    one to layered_webp.npy), by their codec and by the command line's decoder."""
    base_file = (GOLDEN / "b8_range.gan").read_bytes()
    base_only = (GOLDEN / "layered_base_only.grl").read_bytes()
    assert base_only == bytes([0xE0, len(base_file)]) + base_file + bytes.fromhex("f003")
    decoder = residual.Decoder(golden_gan)
    for name, expected in (("layered_base_only.grl", "b8_range.npy"), ("layered_webp.grl", "layered_webp.npy"),
                           ("layered_lossless.grl", "b8_range.npy")):
        assert np.array_equal(decoder.decode((GOLDEN / name).read_bytes()), np.load(GOLDEN / expected)), name
    assert np.array_equal(residual.Layered(golden_gan, residual.BaseOnly()).decode(base_only),
                          np.load(GOLDEN / "b8_range.npy"))
    webp = (GOLDEN / "layered_webp.grl").read_bytes()
    assert webp[:2] == bytes([0xE2, len(base_file)]) and webp[2:2 + len(base_file)] == base_file and len(webp) == 116
    layered = residual.Layered(golden_gan, residual.WebpResidual(50))
    assert np.array_equal(layered.decode(webp), np.load(GOLDEN / "layered_webp.npy"))
    assert np.array_equal(layered.decode_base(webp), np.load(GOLDEN / "b8_range.npy"))
    lossless = (GOLDEN / "layered_lossless.grl").read_bytes()
    assert lossless[0] == 0xE3 and lossless[1:9] == b"\x89PNG\r\n\x1a\n"


EDITS = st.lists(st.tuples(st.sampled_from(["flip", "set", "insert", "delete"]), st.integers(0, 10**6),
                           st.integers(0, 255)), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(["layered_base_only.grl", "layered_webp.grl", "layered_lossless.grl"]), EDITS,
       st.booleans())
def test_fuzzed_layered_files_decode_or_are_refused(golden_gan, mutate, name, edits, keep_checksum):
    """Any mutation of a layered file (marker, length byte, base layer, enhancement, checksum)
    decodes to an image of the model's shape or raises CodecError, quickly, by every layer's codec
    and by the command line's decoder; with ``keep_checksum`` the CRC is recomputed after the
    mutation, so the parts behind it (the base's own header, WebP, the learned coder, which reads
    any bytes as some latent, and PNG) are fuzzed too."""
    blob = mutate((GOLDEN / name).read_bytes(), edits)
    if keep_checksum and len(blob) > 2:
        body = blob[:-2]
        blob = body + binascii.crc_hqx(body, latent_format.CRC_INIT).to_bytes(2, "big")
    torch.manual_seed(0)
    model = learned.build(channels=1, n=8, m=12, model="conditional").eval()
    model.update(force=True)
    coder = residual.LearnedResidual(model, 0.01)
    decoders = [residual.Layered(golden_gan, layer) for layer in (residual.WebpResidual(50), coder,
                                                                    residual.BaseOnly())]
    for decoder in [*decoders, residual.Decoder(golden_gan, [coder])]:
        start = time.perf_counter()
        try:
            image = decoder.decode(blob)
        except latent_format.CodecError:
            pass
        else:
            assert image.shape == (28, 28, 1) and image.dtype == np.uint8
        assert time.perf_counter() - start < 1
