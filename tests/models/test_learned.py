import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from ganlib.codecs.learned import Learned
from ganlib.models import learned


@pytest.mark.parametrize("kind", learned.MODELS)
def test_untrained_model_round_trip(images, tmp_path, kind):
    """compress() -> bytes -> decompress() on a small untrained model; the save/load round trip
    decodes the same bytes to the same image."""
    torch.manual_seed(0)
    model = learned.build(channels=1, n=8, m=12, model=kind).eval()
    model.update(force=True)
    codec = Learned(model, 0.01, (28, 28, 1))
    assert codec.name == kind and codec.id == f"{kind}0.01"
    blob = codec.encode(images[0])
    assert isinstance(blob, bytes) and len(blob) > 0
    decoded = codec.decode(blob)
    assert decoded.shape == (28, 28, 1) and decoded.dtype == np.uint8
    start, end = codec.payload_span(blob)
    assert end == len(blob) and start == (1 if kind == "hyperprior" else 0)
    learned.save(tmp_path / "m.safetensors", model)
    again = Learned(learned.load(tmp_path / "m.safetensors", 1, 8, 12, kind), 0.01, (28, 28, 1))
    assert again.encode(images[0]) == blob
    assert np.array_equal(again.decode(blob), decoded)


def test_hyperprior_file_holds_side_information_then_latent(images):
    torch.manual_seed(0)
    model = learned.build(channels=1, n=8, m=12, model="hyperprior").eval()
    model.update(force=True)
    codec = Learned(model, 0.01, (28, 28, 1))
    blob = codec.encode(images[0])
    strings = model.compress(learned.pad(learned.to_unit(images[:1]), learned.multiple("hyperprior")))["strings"]
    assert blob == bytes([len(strings[1][0])]) + strings[1][0] + strings[0][0]
    with pytest.raises(ValueError, match="truncated hyperprior file"):
        codec.decode(blob[:1 + blob[0] - 1])


def test_hyperprior_side_information_of_255_bytes_or_more_takes_a_longer_length():
    """An untrained hyperprior on a 64 px colour image makes more than 254 bytes of side
    information: the length is then 255 and two bytes, and the file still decodes."""
    torch.manual_seed(0)
    model = learned.build(channels=3, n=8, m=12, model="hyperprior").eval()
    model.update(force=True)
    codec = Learned(model, 0.01, (64, 64, 3))
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    blob = codec.encode(image)
    strings = model.compress(learned.pad(learned.to_unit(image[None]), learned.multiple("hyperprior")))["strings"]
    side = strings[1][0]
    assert len(side) >= 255 and blob == bytes([255]) + len(side).to_bytes(2, "big") + side + strings[0][0]
    assert codec.payload_span(blob) == (3, len(blob)) and codec.decode(blob).shape == (64, 64, 3)
    for cut in (blob[:2], blob[:3 + len(side) - 1]):
        with pytest.raises(ValueError, match="truncated hyperprior file"):
            codec.decode(cut)


def test_unknown_model():
    with pytest.raises(ValueError, match="model='vae' is not allowed; choose one of: factorized, hyperprior, "
                                         "conditional"):
        learned.build(model="vae")


@pytest.mark.parametrize("kind", learned.MODELS)
def test_training_lowers_the_loss(images, kind):
    model, hist = learned.train_learned(images, lam=0.01, steps=30, batch_size=4, n=8, m=12, model=kind,
                                        progress=False)
    assert np.mean(hist["loss"][-5:]) < np.mean(hist["loss"][:5])
    assert Learned(model, 0.01, (28, 28, 1)).decode(
        Learned(model, 0.01, (28, 28, 1)).encode(images[0])).shape == (28, 28, 1)


def test_training_is_reproducible(images):
    a, _ = learned.train_learned(images, 0.01, steps=3, batch_size=4, n=8, m=12, seed=3, progress=False)
    b, _ = learned.train_learned(images, 0.01, steps=3, batch_size=4, n=8, m=12, seed=3, progress=False)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("down", [2, 4])
def test_down_sets_the_latent_size(images, down):
    """g_a halves the image ``down`` times: a 28-pixel image padded to the model's multiple has a
    latent of 28 / 2^down (rounded up) per side, and the codec round-trips at either depth."""
    torch.manual_seed(0)
    model = learned.build(channels=1, n=8, m=12, model="factorized", down=down).eval()
    model.update(force=True)
    x = learned.pad(learned.to_unit(images[:1]), learned.multiple("factorized", down))
    assert model.g_a(x).shape[-2:] == (-(-28 // 2**down),) * 2
    assert model.g_s(model.g_a(x)).shape == x.shape
    codec = Learned(model, 0.01, (28, 28, 1))
    assert codec.decode(codec.encode(images[0])).shape == (28, 28, 1)


def test_conditional_model_needs_its_bases(images):
    with pytest.raises(ValueError, match="bases: the conditional model needs one base image per image"):
        learned.train_learned(images, 0.01, steps=2, batch_size=4, n=8, m=12, model="conditional", progress=False)
    with pytest.raises(ValueError, match="bases: .* for model 'factorized'"):
        learned.train_learned(images, 0.01, steps=2, batch_size=4, n=8, m=12, progress=False, bases=images)
    model, hist = learned.train_learned(images, 0.01, steps=20, batch_size=4, n=8, m=12, model="conditional",
                                        progress=False, bases=images[::-1].copy())
    assert learned.kind(model) == "conditional" and np.mean(hist["loss"][-5:]) < np.mean(hist["loss"][:5])


def test_checkpoint_records_its_stride_stages(tmp_path):
    """The weights have the same shapes at any ``down``: the file's metadata says which it was."""
    for down in (2, 4):
        model = learned.build(channels=1, n=8, m=12, model="factorized", down=down)
        learned.save(tmp_path / f"{down}.safetensors", model)
        assert learned.load(tmp_path / f"{down}.safetensors", 1, 8, 12).down == down
    state = {k: v.contiguous() for k, v in learned.build(channels=1, n=8, m=12, down=4).state_dict().items()}
    save_file(state, str(tmp_path / "old.safetensors"))  # written before "down" was recorded
    assert learned.load(tmp_path / "old.safetensors", 1, 8, 12).down == 4


def test_train_many_in_worker_processes_equals_training_alone(images):
    """Two models trained at once in two one-thread processes are the models each would be
    trained alone with one thread (same weights, same history)."""
    jobs = [{"images": images, "lam": lam, "steps": 3, "batch_size": 4, "n": 8, "m": 12, "seed": 1} for lam in
            (0.01, 0.1)]
    together = learned.train_many(jobs, workers=2)
    for job, (model, hist) in zip(jobs, together):
        alone, alone_hist = learned.train_learned(**job, progress=False, threads=1)
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), alone.state_dict().values()))
        assert hist["loss"] == alone_hist["loss"] and learned.kind(model) == "factorized"
    torch.set_num_threads(2)


def test_families_are_a_model_and_a_distortion():
    assert learned.FAMILIES == ("factorized", "hyperprior", "factorized_ssim", "hyperprior_ssim")
    assert [learned.parse_family(f) for f in learned.FAMILIES] == [
        ("factorized", "mse"), ("hyperprior", "mse"), ("factorized", "ssim"), ("hyperprior", "ssim")]
    assert learned.family_id("hyperprior", "ssim") == "hyperprior_ssim"
    with pytest.raises(ValueError, match="learned model='conditional' is not allowed"):
        learned.parse_family("conditional")


def test_ssim_training_keeps_snapshots_and_codes_as_its_family(images):
    model, hist = learned.train_learned(images, 10.0, 4, 2, n=8, m=12, model="factorized", progress=False,
                                        threads=1, distortion="ssim", snapshots=[2, 4])
    assert sorted(hist["snapshots"]) == [2, 4] and len(hist["bpp"]) == 4
    again = learned.trained_model({"images": images, "n": 8, "m": 12, "model": "factorized"}, hist["snapshots"][4])
    codec = Learned(again, 10.0, (28, 28, 1), "ssim")
    assert codec.name == "factorized_ssim" and codec.id == "factorized_ssim10.0"
    assert codec.encode(images[0]) == Learned(model, 10.0, (28, 28, 1), "ssim").encode(images[0])


def test_shipped_models_load_only_for_their_data(images, tmp_path):
    shipped, run = tmp_path / "models", tmp_path / "run"
    trained, budget, _ = learned.train_all(images, shipped, ["factorized_ssim"], {"ssim": [10.0]}, 2, 2, 1e-3, 0, 8,
                                           12)
    assert [(f, lam) for f, lam, _ in trained] == [("factorized_ssim", 10.0)]
    loaded, runs = learned.load_shipped(shipped, run, ["factorized_ssim"], images)
    assert runs == budget and (run / "learned" / "factorized_ssim_lambda_10.0.safetensors").is_file()
    assert Learned(loaded[0][2], 10.0, (28, 28, 1), "ssim").encode(images[1]) == Learned(
        trained[0][2], 10.0, (28, 28, 1), "ssim").encode(images[1])
    with pytest.raises(ValueError, match="was trained on other data"):
        learned.load_shipped(shipped, run, ["factorized_ssim"], images[::-1].copy())
    with pytest.raises(ValueError, match="learned_models: hyperprior not in"):
        learned.load_shipped(shipped, run, ["hyperprior"], images)


@pytest.mark.parametrize("kind", learned.MODELS)
def test_batches_code_as_single_images_do(images, kind, monkeypatch):
    """encode_batch and decode_batch (several network passes: BATCH is 3 here) give the files and
    images that encode and decode give one at a time."""
    torch.manual_seed(0)
    model = learned.build(channels=1, n=8, m=12, model=kind).eval()
    model.update(force=True)
    codec = Learned(model, 0.01, (28, 28, 1))
    monkeypatch.setattr("ganlib.codecs.learned.BATCH", 3)
    blobs = codec.encode_batch(images)
    assert blobs == [codec.encode(im) for im in images]
    assert np.array_equal(codec.decode_batch(blobs), np.stack([codec.decode(b) for b in blobs]))
    with pytest.raises(ValueError, match="images must be"):
        codec.encode_batch(images[:, :20])


def test_the_gaussian_conditional_codes_compressais_bytes():
    """The faster coder writes and reads exactly what CompressAI's own compress and decompress do."""
    model = learned.build(1, 8, 12, "hyperprior")
    model.update(force=True)
    gc = model.gaussian_conditional
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(5, 12, 7, 7, generator=generator) * 4
    indexes = gc.build_indexes(torch.rand(5, 12, 7, 7, generator=generator) * 8 + 0.05)
    ours = gc.compress(inputs, indexes)
    assert ours == learned._GaussianConditional.compress(gc, inputs, indexes)
    assert torch.equal(gc.decompress(ours, indexes), learned._GaussianConditional.decompress(gc, ours, indexes))
    with pytest.raises(ValueError, match="same size"):
        gc.compress(inputs, indexes[:, :3])
