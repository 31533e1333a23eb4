import numpy as np
import pytest
import torch

from ganlib import learned


@pytest.mark.parametrize("kind", learned.MODELS)
def test_untrained_model_round_trip(images, tmp_path, kind):
    """compress() -> bytes -> decompress() on a small untrained model; the save/load round trip
    decodes the same bytes to the same image."""
    torch.manual_seed(0)
    model = learned.build(channels=1, n=8, m=12, model=kind).eval()
    model.update(force=True)
    codec = learned.Learned(model, 0.01, (28, 28, 1))
    assert codec.name == kind and codec.id == f"{kind}0.01"
    blob = codec.encode(images[0])
    assert isinstance(blob, bytes) and len(blob) > 0
    decoded = codec.decode(blob)
    assert decoded.shape == (28, 28, 1) and decoded.dtype == np.uint8
    start, end = codec.payload_span(blob)
    assert end == len(blob) and start == (1 if kind == "hyperprior" else 0)
    learned.save(tmp_path / "m.safetensors", model)
    again = learned.Learned(learned.load(tmp_path / "m.safetensors", 1, 8, 12, kind), 0.01, (28, 28, 1))
    assert again.encode(images[0]) == blob
    assert np.array_equal(again.decode(blob), decoded)


def test_hyperprior_file_holds_side_information_then_latent(images):
    torch.manual_seed(0)
    model = learned.build(channels=1, n=8, m=12, model="hyperprior").eval()
    model.update(force=True)
    codec = learned.Learned(model, 0.01, (28, 28, 1))
    blob = codec.encode(images[0])
    strings = model.compress(learned._pad(learned.to_unit(images[:1]), 32))["strings"]
    assert blob == bytes([len(strings[1][0])]) + strings[1][0] + strings[0][0]
    with pytest.raises(ValueError, match="truncated hyperprior file"):
        codec.decode(blob[:1 + blob[0] - 1])


def test_unknown_model():
    with pytest.raises(ValueError, match="model='vae' is not allowed; choose one of: factorized, hyperprior"):
        learned.build(model="vae")


@pytest.mark.parametrize("kind", learned.MODELS)
def test_training_lowers_the_loss(images, kind):
    model, hist = learned.train_learned(images, lam=0.01, steps=30, batch_size=4, n=8, m=12, model=kind,
                                        progress=False)
    assert np.mean(hist["loss"][-5:]) < np.mean(hist["loss"][:5])
    assert learned.Learned(model, 0.01, (28, 28, 1)).decode(
        learned.Learned(model, 0.01, (28, 28, 1)).encode(images[0])).shape == (28, 28, 1)


def test_training_is_reproducible(images):
    a, _ = learned.train_learned(images, 0.01, steps=3, batch_size=4, n=8, m=12, seed=3, progress=False)
    b, _ = learned.train_learned(images, 0.01, steps=3, batch_size=4, n=8, m=12, seed=3, progress=False)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
