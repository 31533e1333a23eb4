"""Generator checkpoints read as a careless or hostile user may give them (issue 20): the weights'
names and shapes are checked against the config before any network is built, the config is
bounded, and only regular files are read, with a bound."""
import json
import os
import time

import pytest
import torch
from safetensors.torch import save_file

from ganlib.models import checkpoints
from ganlib.models.nets import GanConfig, Generator


@pytest.fixture
def saved(tmp_path, small_generator):
    checkpoints.save_generator(tmp_path / "run", small_generator)
    return tmp_path / "run"


def test_a_config_is_checked_against_the_weights_before_anything_is_built(saved, monkeypatch):
    built, original = [], Generator.__init__

    def spy(self, config):
        built.append(torch.empty(0).device.type)  # the device a network is built on
        original(self, config)

    monkeypatch.setattr(Generator, "__init__", spy)
    for config, message in [
        ({"latent_dim": 4096, "width": 4096, "image_size": 128, "channels": 3}, "at most 100,000,000 are allowed"),
        ({"latent_dim": 8, "width": 2048}, "at most 100,000,000 are allowed"),
        ({"latent_dim": 8, "width": 64}, r"does not match the generator described by .*size mismatch"),
        ({"latent_dim": 9, "width": 8}, r"does not match .*\(size mismatch for project.0.weight: \[784, 8\] in the "
                                        r"file, \[784, 9\] in the config\)"),
    ]:
        (saved / "generator.json").write_text(json.dumps({"config": config}))
        start = time.perf_counter()
        with pytest.raises(checkpoints.CheckpointError, match=message):
            checkpoints.load_generator(saved)
        assert time.perf_counter() - start < 2
    assert set(built) == {"meta"}  # every network built so far was on the meta device: nothing allocated


def test_weights_longer_than_the_configs_network_are_not_read(saved, tmp_path):
    checkpoints.save_generator(tmp_path / "wide", Generator(GanConfig(latent_dim=8, width=128)))  # 2.7 MB
    (tmp_path / "wide" / "generator.safetensors").replace(saved / "generator.safetensors")
    with pytest.raises(checkpoints.CheckpointError, match=r"does not match the generator described by .*generator"
                                                          r".json \(2,\d{3},\d{3} bytes, longer than the"):
        checkpoints.load_generator(saved)


def test_only_regular_files_are_read(saved):
    weights = saved / "generator.safetensors"
    weights.unlink()
    weights.symlink_to("/dev/zero")
    with pytest.raises(checkpoints.CheckpointError, match="generator.safetensors: not a readable safetensors file "
                                                          r"\(is a character device, not a regular file\)"):
        checkpoints.load_generator(saved)
    (saved / "generator.json").unlink()
    os.mkfifo(saved / "generator.json")
    with pytest.raises(checkpoints.CheckpointError, match=r"generator.json: not a readable JSON file \(is a FIFO"):
        checkpoints.load_generator(saved)


def test_a_file_with_other_tensors_is_named(saved, small_generator):
    state = {k: v.contiguous() for k, v in small_generator.state_dict().items()}
    state["extra"] = state.pop("project.0.weight")
    save_file(state, str(saved / "generator.safetensors"))
    with pytest.raises(checkpoints.CheckpointError, match="missing tensor project.0.weight; unexpected tensor extra"):
        checkpoints.load_generator(saved)
