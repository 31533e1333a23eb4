import json

import nbformat
import numpy as np
import pytest
import yaml

from ganlib.core import paths
from ganlib.models import checkpoints, classifier
from ganlib.pipeline import profiles, ship, stages, trained
from tests.pipeline.test_ship import trained_run

SETTINGS = {"synthetic_steps": 2, "real_steps": 2}


@pytest.fixture
def shipped(small_generator, images, tmp_path, monkeypatch):
    """A run trained and shipped to tmp_path/models, as make report PROFILE=full && make models PROFILE=full."""
    monkeypatch.setenv("GANLIB_WORKDIR", str(tmp_path))
    trained_run(tmp_path / "runs" / "full", small_generator, images)
    assert ship.main(["--profile", "full", "-o", str(tmp_path / "models")]) == 0
    return tmp_path / "models"


def test_adopt_copies_the_stage_files_after_checking_data_and_settings(shipped, images, tmp_path):
    run = tmp_path / "runs" / "default"
    trained.adopt(run, shipped, "train", {"latent_dim": 8, "width": 8, "steps": 3}, images)
    for name in trained.stage_files(shipped, "train"):
        assert (run / name).read_bytes() == (shipped / name).read_bytes()
    assert checkpoints.fingerprint(checkpoints.load_generator(run)) == checkpoints.fingerprint(
        checkpoints.load_generator(shipped))
    trained.adopt(run, shipped, "encoder", SETTINGS, images)
    assert (run / paths.ENCODER).read_bytes() == (shipped / paths.ENCODER).read_bytes()
    assert (run / trained.ADOPTED).is_file()


def test_adopt_refuses_other_data_other_settings_and_another_generator(shipped, images, tmp_path):
    run = tmp_path / "runs" / "default"
    with pytest.raises(ValueError, match="trained on other data"):
        trained.adopt(run, shipped, "train", {"steps": 3}, images[:4])
    with pytest.raises(ValueError, match="steps=3 there, 4 here.*PROFILE=full"):
        trained.adopt(run, shipped, "train", {"steps": 4}, images)
    assert not (run / paths.GENERATOR).exists()  # nothing copied on a refusal
    with pytest.raises(FileNotFoundError, match="generator.json"):
        trained.adopt(run, shipped, "encoder", SETTINGS, images)  # no generator in the run yet
    trained_run(run, checkpoints.load_generator(shipped), images)  # the same generator: accepted
    trained.adopt(run, shipped, "encoder", SETTINGS, images)
    other = tmp_path / "runs" / "other"
    G = checkpoints.load_generator(shipped)
    next(G.parameters()).data += 1
    checkpoints.save_generator(other, G)
    with pytest.raises(ValueError, match="belong to generator"):
        trained.adopt(other, shipped, "encoder", SETTINGS, images)
    with pytest.raises(FileNotFoundError, match="ships no models of stage 'residual'"):
        trained.adopt(run, shipped, "residual", {}, images)


def test_a_stage_loads_the_shipped_classifier(images, tmp_path, monkeypatch):
    monkeypatch.setenv("GANLIB_WORKDIR", str(tmp_path))
    labels = (images.mean(axis=(1, 2, 3)) > images.mean()).astype(int)
    arrays = {"train": images, "train_labels": labels, "test": images, "test_labels": labels,
              "classes": np.array(["dark", "bright"])}
    model, meta = stages.train_classifier(tmp_path / "runs" / "full", arrays, 2, 4, 0.001, 0)
    folder = tmp_path / "models"
    for name in trained.stage_files(tmp_path / "runs" / "full", "classifier"):
        folder.mkdir(exist_ok=True)
        (folder / name).write_bytes((tmp_path / "runs" / "full" / name).read_bytes())
    (folder / trained.MANIFEST).write_text(json.dumps(trained.manifest(images, "full", "abc")))
    monkeypatch.setattr(paths, "project_root", lambda: tmp_path)
    loaded, loaded_meta = stages.train_classifier(tmp_path / "runs" / "default", arrays, 2, 4, 0.001, 0, "models")
    assert loaded_meta == meta
    assert (classifier.classify(loaded, images)[0] == classifier.classify(model, images)[0]).all()
    with pytest.raises(ValueError, match="steps=2 there, 3 here"):
        stages.train_classifier(tmp_path / "runs" / "default", arrays, 3, 4, 0.001, 0, "models")


def notebook_defaults(stage: str) -> dict:
    cell = next(c for c in nbformat.read(profiles.notebook(stage), as_version=4).cells
                if "parameters" in c.metadata.get("tags", []))
    values = {}
    exec(cell.source, values)  # annotated literals only (the parameters cell)
    return values


def test_the_default_profile_asks_for_the_models_that_models_ships():
    """A fresh clone's make report loads models/: the settings each training stage is given (the
    default profile's section over its notebook's defaults) must be those models/ records."""
    shipped = paths.project_root() / "models"
    for stage in trained.STAGES:
        given = {**notebook_defaults(stage), **profiles.stage_params("default", stage)}
        assert given["trained_from"] == "models"
        found = trained.recorded(shipped, stage)
        assert found == {k: given[k] for k in found}, stage
    assert json.loads((shipped / trained.MANIFEST).read_text())["data_fingerprint"]


def test_the_full_profile_is_the_default_trained_in_the_chain():
    for stage in profiles.STAGES:
        full, default = profiles.stage_params("full", stage), profiles.stage_params("default", stage)
        expect = {**default, "profile": "full", **({"trained_from": ""} if stage in trained.STAGES else {})}
        assert full == expect, stage


def test_a_profile_cannot_extend_itself(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "profile_path", lambda p: tmp_path / f"{p}.yaml")
    (tmp_path / "a.yaml").write_text(yaml.safe_dump({"extends": "b"}))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump({"extends": "a"}))
    with pytest.raises(ValueError, match="extends itself"):
        profiles.load_profile("a")
