import json

import pytest
import torch

from ganlib.core import paths
from ganlib.models import checkpoints, gan_training
from ganlib.models.nets import GanConfig


def test_train_save_load_round_trip(images, tmp_path):
    cfg = GanConfig(latent_dim=8, width=4, image_size=28, channels=1)
    G, hist = gan_training.train_gan(images, cfg, steps=4, batch_size=4, lr=2e-4, seed=0, n_snapshots=2, progress=False)
    assert len(hist["d_loss"]) == 4 and [s for s, _ in hist["snapshots"]] == [2, 4]
    assert hist["snapshots"][0][1].shape == (16, 28, 28, 1)
    checkpoints.save_generator(tmp_path, G, extra={"steps": 4})
    meta = json.loads(paths.RunDir(tmp_path).generator_config.read_text())
    assert meta["config"] == cfg.to_dict() and meta["fingerprint"] == checkpoints.fingerprint(G).hex()
    loaded = checkpoints.load_generator(tmp_path)
    z = torch.randn(2, 8)
    with torch.no_grad():
        assert torch.equal(G(z), loaded(z))
    assert checkpoints.fingerprint(loaded) == checkpoints.fingerprint(G)


def test_training_is_reproducible(images):
    cfg = GanConfig(latent_dim=8, width=4, image_size=28, channels=1)
    a, _ = gan_training.train_gan(images, cfg, 3, 4, 2e-4, seed=1, n_snapshots=0, progress=False)
    b, _ = gan_training.train_gan(images, cfg, 3, 4, 2e-4, seed=1, n_snapshots=0, progress=False)
    assert checkpoints.fingerprint(a) == checkpoints.fingerprint(b)


def test_missing_checkpoint_names_its_stage(tmp_path):
    with pytest.raises(FileNotFoundError, match="02_train_gan.*make train"):
        checkpoints.load_generator(tmp_path)


@pytest.mark.parametrize("kwargs,name", [({"steps": 0}, "steps"), ({"batch_size": -1}, "batch_size"),
                                         ({"lr": 0}, "lr")])
def test_bad_parameters(kwargs, name):
    args = {"steps": 1, "batch_size": 1, "lr": 1e-3} | kwargs
    with pytest.raises(ValueError, match=name):
        gan_training.check_params(**args)
