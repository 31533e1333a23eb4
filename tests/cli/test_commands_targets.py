"""compress --target / --max-bytes (the quality ladder) and decompress of layered files."""
import csv

import numpy as np
import pytest
import torch
from PIL import Image

from ganlib.cli import commands as cli
from ganlib.codecs import residual
from ganlib.evaluation import metrics, targets
from ganlib.formats import layered_format
from ganlib.models import learned
from ganlib.models.checkpoints import save_generator
from ganlib.pipeline import ladder

FAST = ["--steps", "10", "--restarts", "1", "--refine-steps", "2", "--init", "random"]


@pytest.fixture
def run(tmp_path, small_generator):
    """A run with the small generator and one learned residual coder (untrained) in residual.json."""
    folder = tmp_path / "run"
    save_generator(folder, small_generator)
    torch.manual_seed(0)
    model = learned.build(channels=1, n=8, m=12, model="conditional", down=1).eval()
    model.update(force=True)
    learned.save(folder / "learned" / "conditional_lambda_0.01.safetensors", model)
    (folder / "residual.json").write_text('{"base_bits": 6, "loss": "mse", "n": 8, "m": 12, "down": 1, '
                                          '"runs": [{"model": "conditional", "lambda": 0.01}]}')
    return folder


@pytest.fixture
def folder(tmp_path, images, rng):
    """Three images unlike the small generator's: blobs, a checkerboard and noise."""
    out = tmp_path / "in"
    out.mkdir()
    Image.fromarray(images[0][..., 0]).save(out / "blob.png")
    Image.fromarray(((np.indices((28, 28)).sum(0) // 4) % 2 * 255).astype(np.uint8)).save(out / "checker.png")
    Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(out / "noise.png")
    return out


def read_png(path):
    return np.asarray(Image.open(path))[..., None]


def test_every_image_meets_the_target_after_decompress(run, folder, tmp_path, capsys):
    out, back, report = tmp_path / "out", tmp_path / "back", tmp_path / "r.csv"
    assert cli.main(["compress", str(folder), "-o", str(out), "--run", str(run), "--target", "ssim=0.9",
                     "--report", str(report), *FAST]) == 0
    err = capsys.readouterr().err
    assert "lossless fallback" in err and "ssim>=0.9" in err
    rows = list(csv.DictReader(report.open()))
    assert len(rows) == 3 and all(r["target_met"] == "True" for r in rows)
    assert cli.main(["decompress", str(out), "-o", str(back), "--run", str(run)]) == 0
    for r in rows:
        name = r["file"].rsplit("/", 1)[1].replace(".png", "")
        blob = (out / f"{name}.grl").read_bytes()
        assert layered_format.is_layered(blob) and len(blob) == int(r["bytes"])
        ssim = metrics.ssim(read_png(folder / f"{name}.png"), read_png(back / f"{name}.png"))
        assert ssim >= 0.9 and ssim == pytest.approx(float(r["ssim"]), abs=1e-5)


def test_max_bytes_files_never_exceed_the_limit_and_too_small_a_limit_fails(run, folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["compress", str(folder), "-o", str(out), "--run", str(run), "--max-bytes", "40", *FAST]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["blob.grl", "checker.grl", "noise.grl"]
    assert all(len(p.read_bytes()) <= 40 for p in out.iterdir())
    capsys.readouterr()
    assert cli.main(["compress", str(folder / "noise.png"), "-o", str(tmp_path / "x.grl"), "--run", str(run),
                     "--max-bytes", "5", *FAST]) == cli.EXIT_TOO_BIG
    assert "no file of at most 5 bytes; the smallest this model makes is" in capsys.readouterr().err
    assert not (tmp_path / "x.grl").exists()


def test_latent_and_layered_files_decode_through_one_decompress(run, folder, tmp_path):
    mixed = tmp_path / "mixed"
    assert cli.main(["compress", str(folder / "blob.png"), "-o", str(mixed / "a.gan"), "--run", str(run), *FAST]) == 0
    assert cli.main(["compress", str(folder / "blob.png"), "-o", str(mixed / "b.grl"), "--run", str(run),
                     "--target", "psnr=99", *FAST]) == 0
    assert cli.main(["decompress", str(mixed), "-o", str(tmp_path / "back"), "--run", str(run)]) == 0
    assert np.array_equal(read_png(tmp_path / "back" / "b.png"), read_png(folder / "blob.png"))  # lossless rung
    assert (tmp_path / "back" / "a.png").is_file()


def test_without_a_target_images_unlike_the_training_set_are_named(run, folder, tmp_path, capsys):
    assert cli.main(["compress", str(folder), "-o", str(tmp_path / "out"), "--run", str(run), *FAST]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "noise.png" in err and "--target ssim=0.9" in err


@pytest.mark.parametrize("argv, message", [
    (["--target", "ssim=2"], "ssim must be a number above 0 and at most 1"),
    (["--target", "lpips=0.1"], "metric one of: ssim, psnr, ms_ssim"),
    (["--max-bytes", "0"], "--max-bytes=0 is not allowed"),
    (["--target", "ssim=0.9", "--max-bytes", "100"], "alternatives"),
])
def test_bad_targets_name_themselves(run, folder, tmp_path, capsys, argv, message):
    assert cli.main(["compress", str(folder), "-o", str(tmp_path / "out"), "--run", str(run), *argv]) == cli.EXIT_USAGE
    assert message in capsys.readouterr().err


def test_choose_picks_the_smallest_meeting_or_the_best_within():
    sizes, quality = [30, 50, 50, 200], [0.7, 0.92, 0.95, 1.0]
    assert targets.choose(sizes, quality, targets.parse("ssim=0.9")) == 1
    assert targets.choose(sizes, quality, targets.parse("ssim=0.99")) == 3
    assert targets.choose(sizes, quality, targets.size_bound(60)) == 2
    assert targets.choose(sizes, quality, targets.size_bound(10)) is None


def test_ladder_rungs_decode_as_scored(run, small_generator, images):
    gan = cli.GanCodec(small_generator, 8, cli.mode_config(False, steps=5, restarts=1, refine_steps=1))
    coders, bits = ladder.load_coders(run, 1)
    rungs = ladder.ladder(gan, coders, bits, images[:2])
    names = [r.name for r in rungs[0]]
    assert names[:6] == [f"base {b} bits" for b in ladder.BASE_BITS] and names[-1] == "lossless"
    assert "learned λ=0.01" in names and sum("webp" in n for n in names) == len(ladder.WEBP_QUALITIES)
    decoder = residual.Decoder(gan, coders)
    for image, per_image in zip(images[:2], rungs):
        for r in per_image:
            assert r.score["ssim"] == pytest.approx(metrics.ssim(image, decoder.decode(r.blob)))
        assert per_image[-1].score["psnr"] == float("inf")


def test_oversized_or_foreign_layered_files_are_refused_unread(run, tmp_path, capsys):
    big = tmp_path / "big.grl"
    with big.open("wb") as f:
        f.truncate(layered_format.MAX_FILE_BYTES + 1)
    assert cli.main(["decompress", str(big), "-o", str(tmp_path / "x.png"), "--run", str(run)]) == cli.EXIT_BAD_FILE
    assert "longer than any valid latent or layered file" in capsys.readouterr().err
    damaged = tmp_path / "damaged.grl"
    damaged.write_bytes(bytes([0xE2, 3, 1, 2, 3, 0, 0]))
    assert cli.main(["decompress", str(damaged), "-o", str(tmp_path / "y.png"), "--run", str(run)]) == cli.EXIT_BAD_FILE
    assert "checksum" in capsys.readouterr().err and not (tmp_path / "y.png").exists()
