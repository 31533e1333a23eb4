import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from ganlib.codecs.gan import GanCodec
from ganlib.core import paths, runtime
from ganlib.inversion import invert, modes
from ganlib.models import encoder, losses
from ganlib.models.nets import Encoder, GanConfig, Generator, init_weights


def train(G, images, seed=0):
    return encoder.train_encoder(G, images, synthetic_steps=6, real_steps=4, batch_size=4, seed=seed, progress=False)


def test_shapes():
    E = Encoder(GanConfig(latent_dim=8, width=8))
    assert E(torch.zeros(3, 1, 28, 28)).shape == (3, 8)
    colour = Encoder(GanConfig(latent_dim=5, width=4, image_size=64, channels=3))
    assert colour(torch.zeros(2, 3, 64, 64)).shape == (2, 5)


def test_training_is_deterministic_and_leaves_the_generator_alone(small_generator, images):
    before = {k: v.clone() for k, v in small_generator.state_dict().items()}
    (a, hist), (b, _) = train(small_generator, images), train(small_generator, images)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert len(hist["loss"]) == 10 and np.isnan(hist["z_loss"][-1]) and not np.isnan(hist["z_loss"][0])
    assert all(torch.equal(before[k], v) for k, v in small_generator.state_dict().items())
    c, _ = train(small_generator, images, seed=1)
    assert not all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values()))


def test_checkpoint_round_trip_and_foreign_generator_refused(small_generator, images, tmp_path):
    E, _ = train(small_generator, images)
    assert encoder.load_encoder(tmp_path, small_generator) is None  # a run without an encoder
    encoder.save_encoder(tmp_path, E, small_generator)
    back = encoder.load_encoder(tmp_path, small_generator)
    assert torch.equal(encoder.encode(back, images), encoder.encode(E, images))
    other = Generator(small_generator.config)
    torch.manual_seed(7)
    other.apply(init_weights)
    with pytest.raises(ValueError, match="belongs to generator .* not to this one"):
        encoder.load_encoder(tmp_path, other)


def test_metric_is_fitted_deterministic_saved_and_required(small_generator, images, tmp_path):
    E, _ = train(small_generator, images)
    assert torch.equal(E.metric, torch.eye(8))  # the identity until it is fitted
    M = encoder.fit_metric(small_generator, E, images, batch_size=3)
    assert torch.equal(M, E.metric) and torch.allclose(M, M.T, atol=1e-6) and M.diagonal().max() == 1
    assert torch.linalg.eigvalsh(M.double()).min() > 0
    assert torch.equal(encoder.fit_metric(small_generator, E, images, batch_size=3), M)  # deterministic
    assert torch.allclose(encoder.fit_metric(small_generator, E, images, batch_size=5), M, atol=1e-5)
    encoder.save_encoder(tmp_path, E, small_generator)
    assert torch.equal(encoder.load_encoder(tmp_path, small_generator).metric, E.metric)
    weights = load_file(str(paths.RunDir(tmp_path).encoder))
    del weights["metric"]
    save_file(weights, str(paths.RunDir(tmp_path).encoder))  # a checkpoint from before the metric
    with pytest.raises(ValueError, match="does not match the encoder .*missing tensor metric.*make encoder"):
        encoder.load_encoder(tmp_path, small_generator)
    with pytest.raises(ValueError, match="^ridge="):
        encoder.fit_metric(small_generator, E, images, ridge=0)


def test_lbfgs_hybrid_beats_the_adam_hybrid_at_equal_steps(small_generator, images):
    E, _ = train(small_generator, images)
    encoder.fit_metric(small_generator, E, images)
    targets = runtime.to_tensor(images)
    loss = {o: invert.invert(small_generator, targets, modes.hybrid_config("mse", 20, optimizer=o), encoder=E,
                             progress=False, device="cpu").loss.mean() for o in ("adam", "lbfgs")}
    assert loss["lbfgs"] < loss["adam"]


@pytest.mark.parametrize("kwargs,name", [({"synthetic_steps": -1}, "synthetic_steps"),
                                         ({"real_steps": 1.5}, "real_steps"),
                                         ({"synthetic_steps": 0, "real_steps": 0}, "synthetic_steps"),
                                         ({"batch_size": 0}, "batch_size"), ({"lr": -1}, "lr")])
def test_bad_parameters_are_refused_by_name(kwargs, name):
    args = {"synthetic_steps": 1, "real_steps": 1, "batch_size": 4, "lr": 1e-3} | kwargs
    with pytest.raises(ValueError, match=f"^{name}="):
        encoder.check_params(**args)


def test_encoder_start_with_zero_steps_is_the_encoders_guess(small_generator, images):
    E, _ = train(small_generator, images)
    config = invert.InversionConfig(init="encoder", steps=0, restarts=1, refine_steps=0)
    res = invert.invert(small_generator, runtime.to_tensor(images), config, encoder=E, progress=False, device="cpu")
    assert torch.equal(res.z, encoder.encode(E, images)) and res.history == []
    with pytest.raises(ValueError, match="init='encoder' needs an encoder"):
        GanCodec(small_generator, 8, config)


def test_hybrid_search_improves_on_the_encoders_guess(small_generator, images):
    E, _ = train(small_generator, images)
    targets = runtime.to_tensor(images)
    with torch.no_grad():
        start = losses.image_loss("mse", small_generator(encoder.encode(E, images)), targets)
    config = invert.InversionConfig(loss="mse", init="encoder", steps=30, restarts=1, lr=0.05)
    searched = invert.invert(small_generator, targets, config, encoder=E, progress=False, device="cpu")
    assert searched.loss.mean() < start.mean().item()


def test_weights_that_are_not_those_of_encoder_json_are_refused(small_generator, images, tmp_path):
    """Another training's encoder.safetensors (same generator) beside this run's encoder.json: its
    fingerprint is not the one the JSON records. A JSON from before that record is checked as before."""
    E, _ = train(small_generator, images)
    encoder.save_encoder(tmp_path / "a", E, small_generator)
    encoder.save_encoder(tmp_path / "b", train(small_generator, images, seed=1)[0], small_generator)
    (tmp_path / "b" / "encoder.safetensors").replace(tmp_path / "a" / "encoder.safetensors")
    with pytest.raises(ValueError, match="its weights' fingerprint is .*, not .* as encoder.json records"):
        encoder.load_encoder(tmp_path / "a", small_generator)
    meta = json.loads((tmp_path / "a" / "encoder.json").read_text())
    del meta["fingerprint"]
    (tmp_path / "a" / "encoder.json").write_text(json.dumps(meta))
    assert encoder.load_encoder(tmp_path / "a", small_generator) is not None
