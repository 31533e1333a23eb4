import json

import numpy as np
import pandas as pd

from ganlib.codecs import residual
from ganlib.codecs.gan import GanCodec
from ganlib.core import paths
from ganlib.data import datasets
from ganlib.models import checkpoints, encoder, gan_training, learned, prior
from ganlib.pipeline import ladder, ship, trained


def trained_run(run, G, images, budget=None):
    """A run directory as 01, 02 and 02b leave it (tiny models)."""
    datasets.save(paths.RunDir(run).data, {"train": images})
    gan_training.save_history(run, {"d_loss": [1.0], "g_loss": [2.0], "snapshots": [], "seconds": 1.0})
    checkpoints.save_generator(run, G, extra=budget or {"steps": 3})
    E, _ = encoder.train_encoder(G, images, 2, 2, batch_size=4, progress=False)
    prior.save(run, prior.unit(G))
    encoder.save_encoder(run, E, G, extra={"synthetic_steps": 2, "real_steps": 2})


def test_ship_copies_the_models_and_writes_a_card(small_generator, images, tmp_path, monkeypatch):
    monkeypatch.setenv("GANLIB_WORKDIR", str(tmp_path))
    run = tmp_path / "runs" / "smoke"
    trained_run(run, small_generator, images, {"steps": 3, "batch_size": 2, "lr": 0.1, "seed": 0, "seconds": 1.0})
    (tmp_path / "reports" / "smoke").mkdir(parents=True)
    pd.DataFrame([{"split": "unseen", "scheme": "gan", "n_images": 2, "bpp": 0.25, "cr": 32.0, "psnr": 20.5,
                   "mse": 500.0, "ssim": 0.8512}]).to_csv(tmp_path / "reports/smoke/summary.csv", index=False)
    out = tmp_path / "models"
    assert ship.main(["--profile", "smoke", "-o", str(out)]) == 0
    for name in ship.shipped_files(run):
        assert (out / name).read_bytes() == (run / name).read_bytes()
    assert json.loads((out / trained.MANIFEST).read_text())["data_fingerprint"] == learned.data_fingerprint(images)
    card = (out / "README.md").read_text()
    fp = json.loads(paths.RunDir(run).generator_config.read_text())["fingerprint"]
    assert f"fingerprint `{fp}`" in card and "| unseen | 0.250 | 20.50 | 0.851 |" in card
    assert encoder.load_encoder(out, checkpoints.load_generator(out)) is not None
    assert not (out / paths.RESIDUAL_META).exists()  # 04b has not run: no residual coders


def test_ship_adds_the_residual_coders_when_04b_has_run(small_generator, images, tmp_path, monkeypatch):
    monkeypatch.setenv("GANLIB_WORKDIR", str(tmp_path))
    run = tmp_path / "runs" / "smoke"
    trained_run(run, small_generator, images)
    bases = images[::-1].copy()
    residual.train_all(images, bases, run, [0.01], 2, 4, 0.001, 0, 8, 12, 1, {"base_bits": 6, "loss": "mse",
                                                                            "train_images": len(images)})
    out = tmp_path / "models"
    assert ship.main(["--profile", "smoke", "-o", str(out)]) == 0
    coder = "learned/conditional_lambda_0.01.safetensors"
    assert (out / coder).read_bytes() == (run / coder).read_bytes()
    assert "residual coders" in (out / "README.md").read_text()
    assert [c.param for c in ladder.load_coders(out, 1)[0]] == [0.01]


def test_ship_names_what_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GANLIB_WORKDIR", str(tmp_path))
    assert ship.main(["--profile", "smoke", "-o", str(tmp_path / "models")]) == 2
    assert "data.npz is missing" in capsys.readouterr().err
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_ship_refuses_a_run_that_loaded_its_models(small_generator, images, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GANLIB_WORKDIR", str(tmp_path))
    run = tmp_path / "runs" / "smoke"
    trained_run(run, small_generator, images)
    (run / trained.ADOPTED).write_text('{"from": "models"}')
    assert ship.main(["--profile", "smoke", "-o", str(tmp_path / "models")]) == 2
    assert "ship the run that trained them" in capsys.readouterr().err




def test_the_shipped_model_compresses_and_decompresses_an_image(tmp_path):
    """From a fresh clone: models/ is the command line's default, and its files round-trip."""
    from PIL import Image

    from ganlib.cli import commands as cli
    from ganlib.core import paths
    from ganlib.data import datasets
    from ganlib.formats import latent_format

    shipped = paths.project_root() / "models"
    G = checkpoints.load_generator(shipped)
    E = encoder.load_encoder(shipped, G)
    P = prior.load(shipped, G)
    assert E is not None and P.latent_dim == G.config.latent_dim
    image = np.zeros((28, 28), np.uint8)
    image[6:22, 9:19] = 200  # a bright block on black, like a garment
    Image.fromarray(image).save(tmp_path / "in.png")
    assert cli.main(["compress", str(tmp_path / "in.png"), "-o", str(tmp_path / "in.gan")]) == 0
    assert cli.main(["decompress", str(tmp_path / "in.gan"), "-o", str(tmp_path / "back.png")]) == 0
    blob = (tmp_path / "in.gan").read_bytes()
    assert len(blob) <= latent_format.max_file_bytes(G.config.latent_dim, 8)
    back = datasets.read_image(tmp_path / "back.png", 28, 1)
    assert np.array_equal(back, GanCodec(G, prior=P).decode(blob))
