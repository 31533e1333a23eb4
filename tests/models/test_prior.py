"""The latent prior (ganlib.models.prior): fitting, storing with the model, the differentiable rate, and the
rate term of the search and the refinement (issue 9, item 1)."""
import json
import os

import numpy as np
import pytest
import torch

from ganlib.codecs.gan import GanCodec
from ganlib.core import paths, runtime
from ganlib.formats import latent_format
from ganlib.inversion import invert, modes
from ganlib.models import checkpoints, losses, prior
from ganlib.models.nets import Encoder, GanConfig, Generator, init_weights


@pytest.fixture
def fitted(small_generator, rng):
    return prior.fit(rng.normal(0.2, 0.6, (500, 8)), small_generator)


def test_fit_is_the_per_dimension_gaussian(small_generator, rng):
    z = rng.normal(np.linspace(-1, 1, 8), np.linspace(0.3, 1.2, 8), (4000, 8))
    z[:, 3] = 0.5  # a constant dimension gets the floor
    m = prior.fit(z, small_generator)
    assert np.allclose(m.mean, np.clip(z, -3, 3).mean(0)) and m.std[3] == prior.MIN_STD
    assert np.allclose(np.delete(m.std, 3), np.delete(np.clip(z, -3, 3).std(0), 3), atol=1e-12)
    assert (m.generator_fingerprint, m.shape, m.z_range, m.latent_dim) == (checkpoints.fingerprint(small_generator),
                                                                           (28, 28, 1), 3.0, 8)
    with pytest.raises(ValueError, match="latents must be"):
        prior.fit(z[:, :7], small_generator)


def test_fit_ids_never_take_evaluation_images():
    arrays = {"train": np.zeros((50, 1)), "seen_ids": np.arange(0, 50, 2)}
    ids = prior.fit_ids(arrays, 10, seed=3)
    assert len(ids) == 10 and np.all(ids % 2 == 1) and np.all(np.diff(ids) > 0)
    assert np.array_equal(ids, prior.fit_ids(arrays, 10, seed=3))
    assert sorted(prior.fit_ids(arrays, 1000)) == list(range(1, 50, 2))


def test_save_and_load_are_exact(tmp_path, small_generator, fitted):
    prior.save(tmp_path, fitted, {"images": 500})
    back = prior.load(tmp_path, small_generator)
    assert back.fingerprint == fitted.fingerprint and np.array_equal(back.mean, fitted.mean)
    meta = json.loads(paths.RunDir(tmp_path).prior.read_text())
    assert meta["model_fingerprint"] == fitted.fingerprint.hex() and meta["fitted_on"] == {"images": 500}
    assert meta["latent_format_version"] == latent_format.VERSION == 2


def test_load_failures_name_the_file(tmp_path, small_generator, fitted):
    with pytest.raises(FileNotFoundError, match=r"prior.json is missing: .*re-run make encoder PROFILE=<profile>"):
        prior.load(tmp_path, small_generator)
    assert prior.load(tmp_path, small_generator, missing="none") is None
    runs = tmp_path / "runs" / "mine"
    runs.mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"make encoder PROFILE=mine\)"):
        prior.load(runs, small_generator)
    path = prior.save(tmp_path, fitted)
    meta = json.loads(path.read_text())
    other = Generator(GanConfig(latent_dim=8, width=8))
    torch.manual_seed(4)
    other.apply(init_weights)
    with pytest.raises(prior.PriorError, match="belongs to generator .*, not to this one"):
        prior.load(tmp_path, other.eval())
    path.write_text(json.dumps({**meta, "std": [s * 1.001 for s in meta["std"]]}))
    with pytest.raises(prior.PriorError, match="edited or damaged"):
        prior.load(tmp_path, small_generator)
    path.write_text(json.dumps({**meta, "std": meta["std"][:7]}))
    with pytest.raises(prior.PriorError, match="invalid prior"):
        prior.load(tmp_path, small_generator)
    path.write_text("{not json")
    with pytest.raises(prior.PriorError, match="prior.json: not a readable JSON file"):
        prior.load(tmp_path, small_generator)


def test_unit_prior(small_generator):
    u = prior.unit(small_generator)
    assert np.array_equal(u.mean, np.zeros(8)) and np.array_equal(u.std, np.ones(8))
    assert u.fingerprint != checkpoints.fingerprint(small_generator)


# ---------------------------------------------------------------- the rate
@pytest.mark.parametrize("bits", [3, 6, 8])
def test_rate_is_the_range_coders_cost(bits, fitted, rng):
    """rate_bits at a bit depth is what the coder spends: within a byte of the payload."""
    for width in (0.6, 1.2, 2.0):
        symbols = latent_format.quantize(np.clip(rng.normal(0.2, width, (20, 8)), -3, 3), bits, 3.0)
        rate = prior.rate_bits(torch.from_numpy(latent_format.dequantize(symbols, bits, 3.0)), fitted, bits).numpy()
        payload = np.array([len(latent_format._pack_range(s, fitted, bits)) for s in symbols])
        assert np.all(payload * 8 <= rate + 8) and np.all(payload * 8 >= rate - 12)


def test_rate_density_is_the_fine_grid_limit(fitted, rng):
    z = torch.from_numpy(np.clip(rng.normal(0.2, 0.8, (10, 8)), -2.5, 2.5))
    zq = torch.from_numpy(latent_format.dequantize(latent_format.quantize(z.numpy(), 14, 3.0), 14, 3.0)).double()
    fine = prior.rate_bits(zq, fitted, 14) + 8 * np.log2(latent_format.step(14, 3.0))
    assert torch.allclose(fine, prior.rate_bits(zq, fitted), atol=0.05)


def test_rate_gradient_pulls_towards_the_prior(fitted):
    z = torch.tensor([[2.0] * 8, [-1.5] * 8], requires_grad=True)
    prior.rate_bits(z, fitted).sum().backward()
    assert torch.all(z.grad[0] > 0) and torch.all(z.grad[1] < 0)
    zq = torch.from_numpy(latent_format.dequantize(latent_format.quantize(z.detach().numpy(), 6, 3.0), 6, 3.0))
    w = z.detach().clone().requires_grad_()
    prior.rate_bits(w + (zq - w).detach(), fitted, 6).sum().backward()  # straight-through, as refine does
    assert torch.all(w.grad[0] > 0) and torch.all(w.grad[1] < 0)


# ---------------------------------------------------------------- the rate term of the search
def test_rate_lambda_is_validated_by_name():
    for bad in (-1e-3, float("nan"), float("inf"), True, "0.1"):
        with pytest.raises(ValueError, match="^rate_lambda="):
            invert.InversionConfig(rate_lambda=bad)
    assert invert.InversionConfig().rate_lambda == 0.0


def test_rate_term_trades_bytes_for_quality(small_generator, images, fitted):
    """Larger rate_lambda: fewer bits (and files no longer), a worse image loss; refinement never
    worse than rounding under its own objective."""
    rates, values, sizes = [], [], []
    for lam in (0.0, 0.0003, 0.003):
        config = invert.InversionConfig(loss="mse", steps=60, restarts=1, refine_steps=10, rate_lambda=lam)
        gan = GanCodec(small_generator, 6, config, prior=fitted)
        inv = gan.search(images[:4])
        symbols = gan.refined_symbols(images[:4], inv, 6)
        zq = torch.from_numpy(latent_format.dequantize(symbols, 6, 3.0))
        rates.append(prior.rate_bits(zq, fitted, 6).mean().item())
        values.append(losses.image_loss("mse", small_generator(zq), gan.targets(images[:4])).mean().item())
        sizes.append(np.mean([len(gan.pack(s)) for s in symbols]))
    assert rates[0] > rates[1] > rates[2] and values[0] < values[1] < values[2] and sizes[0] >= sizes[2]


def test_refinement_never_worse_under_its_objective(small_generator, images, fitted):
    targets = runtime.to_tensor(images[:4])
    z = invert.invert(small_generator, targets, invert.InversionConfig(loss="ssim", steps=20, restarts=1),
                      progress=False, device="cpu").z
    for lam in (0.0, 0.003):
        _, zq = invert.fake_quantize(z, 4, 3.0)
        with torch.no_grad():
            plain = (losses.image_loss("ssim", small_generator(zq), targets)
                     + lam * prior.rate_bits(zq, fitted, 4)).numpy()
        symbols, refined = invert.refine(small_generator, targets, z, "ssim", 4, 3.0, steps=15, lr=0.3,
                                         device="cpu", rate_lambda=lam, prior=fitted)
        assert np.all(refined <= plain + 1e-6) and symbols.shape == (4, 8)


# ---------------------------------------------------------------- GanCodec and its model
def test_gan_codec_writes_with_its_prior_and_reads_the_unit_priors_files(small_generator, fitted, rng):
    with_prior, plain = GanCodec(small_generator, prior=fitted), GanCodec(small_generator)
    assert with_prior.model.fingerprint == fitted.fingerprint != plain.model.fingerprint
    assert with_prior.fingerprint == plain.fingerprint == checkpoints.fingerprint(small_generator)
    symbols = latent_format.quantize(rng.normal(0.2, 0.6, (5, 8)), 8, 3.0)
    mine, old = [with_prior.pack(s) for s in symbols], [plain.pack(s) for s in symbols]
    assert all(b[1:5] == fitted.fingerprint for b in mine)
    assert np.array_equal(with_prior.decode_batch(mine + old), plain.decode_batch(old + old))
    with pytest.raises(latent_format.CodecError, match=r"another generator or prior .*fitted prior.*was not loaded"):
        plain.decode(mine[0])


def test_gan_codec_refuses_a_prior_of_another_model(small_generator, fitted):
    other = Generator(GanConfig(latent_dim=8, width=8))
    torch.manual_seed(6)
    other.apply(init_weights)
    with pytest.raises(ValueError, match="belongs to generator"):
        GanCodec(other.eval(), prior=fitted)
    with pytest.raises(ValueError, match="z_range=2.5 is not allowed with this prior"):
        GanCodec(small_generator, config=invert.InversionConfig(z_range=2.5), prior=fitted)


def test_hybrid_latents_and_fit_as_the_encoder_stage_does(small_generator, images, tmp_path):
    torch.manual_seed(2)
    E = Encoder(small_generator.config)
    E.apply(init_weights)
    z = modes.hybrid_latents(small_generator, E.eval(), images, batch=3)
    assert z.shape == (8, 8) and np.abs(z).max() <= 3
    m = prior.fit(z, small_generator)
    prior.save(tmp_path, m, {"images": 8, "mode": modes.hybrid_config().to_dict()})
    assert prior.load(tmp_path, small_generator).fingerprint == m.fingerprint


@pytest.mark.parametrize("z_range", [1e308, float("inf"), float("nan"), 10**400])
def test_a_range_no_float_quantizer_can_use_is_refused(tmp_path, small_generator, fitted, z_range):
    path = prior.save(tmp_path, fitted)
    path.write_text(json.dumps({**json.loads(path.read_text()), "z_range": z_range}))
    with pytest.raises(prior.PriorError, match="prior.json: invalid prior"):
        prior.load(tmp_path, small_generator)


def test_a_prior_that_is_not_a_regular_file_is_refused(tmp_path, small_generator):
    os.mkfifo(paths.RunDir(tmp_path).prior)
    with pytest.raises(prior.PriorError, match="prior.json: not a readable JSON file .is a FIFO"):
        prior.load(tmp_path, small_generator, missing="none")
