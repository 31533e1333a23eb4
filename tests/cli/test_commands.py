import numpy as np
import pytest
import torch
from PIL import Image

from ganlib.cli import commands as cli
from ganlib.codecs.gan import GanCodec
from ganlib.core import runtime
from ganlib.formats import latent_format
from ganlib.models.checkpoints import load_generator, save_generator
from ganlib.models.nets import GanConfig, Generator, init_weights

FAST = ["--steps", "40", "--restarts", "1", "--refine-steps", "5"]


@pytest.fixture
def run(tmp_path, small_generator):
    save_generator(tmp_path / "run", small_generator)
    return tmp_path / "run"


@pytest.fixture
def png(tmp_path, small_generator):
    with torch.no_grad():
        image = runtime.to_uint8(small_generator(torch.full((1, 8), 0.3)))[0]
    path = tmp_path / "in.png"
    Image.fromarray(image[..., 0]).save(path)
    return path


def test_round_trip_is_the_codec_decode(run, png, tmp_path, capsys):
    out, back = tmp_path / "x.gan", tmp_path / "back.png"
    assert cli.main(["compress", str(png), "-o", str(out), "--run", str(run), "--loss", "mse", *FAST]) == 0
    assert "bytes" in capsys.readouterr().err
    # the run has no prior.json: coded under the unit prior; the shorter of raw (7 + 8 bytes) and
    # range coding, so at most 15 bytes, and exactly what packing the decoded symbols gives
    blob = out.read_bytes()
    gan = GanCodec(load_generator(run))
    latent = gan.unpack(blob)
    assert len(blob) <= len(latent_format.pack(latent, gan.model, "raw")) == 15 and blob[1:5] == gan.model.fingerprint
    assert blob == latent_format.pack(latent, gan.model)
    assert cli.main(["decompress", str(out), "-o", str(back), "--run", str(run)]) == 0
    decoded = np.asarray(Image.open(back))[..., None]
    assert np.array_equal(decoded, GanCodec(load_generator(run)).decode(out.read_bytes()))
    assert np.mean((decoded.astype(float) - np.asarray(Image.open(png))[..., None]) ** 2) < 100


def test_bad_files_fail_cleanly(run, png, tmp_path, capsys):
    out = tmp_path / "x.gan"
    cli.main(["compress", str(png), "-o", str(out), "--run", str(run), *FAST])
    capsys.readouterr()
    blob = out.read_bytes()
    cases = {"truncated": blob[:-3], "corrupted": blob[:6] + bytes([blob[6] ^ 4]) + blob[7:],
             "foreign": Image.open(png).tobytes()[:60], "empty": b""}
    for name, data in cases.items():
        bad = tmp_path / f"{name}.gan"
        bad.write_bytes(data)
        assert cli.main(["decompress", str(bad), "-o", str(tmp_path / "o.png"), "--run", str(run)]) == 1, name
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_wrong_generator_is_refused(run, png, tmp_path, capsys):
    out = tmp_path / "x.gan"
    cli.main(["compress", str(png), "-o", str(out), "--run", str(run), *FAST])
    torch.manual_seed(9)
    other = Generator(GanConfig(latent_dim=8, width=8))
    other.apply(init_weights)
    save_generator(tmp_path / "other", other)
    assert cli.main(["decompress", str(out), "-o", str(tmp_path / "o.png"), "--run", str(tmp_path / "other")]) == 1
    assert "another generator" in capsys.readouterr().err


def test_image_conversion(run, tmp_path, capsys, rng):
    rgb = tmp_path / "rgb.png"
    Image.fromarray(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)).save(rgb)
    assert cli.main(["compress", str(rgb), "-o", str(tmp_path / "a.gan"), "--run", str(run), *FAST]) == 0
    deep = tmp_path / "deep.png"
    Image.fromarray(np.full((28, 28), 65535, np.uint16)).save(deep)
    assert cli.read_image(deep, 28, 1, False).min() == 255
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((40, 50), np.uint8)).save(big)
    assert cli.main(["compress", str(big), "-o", str(tmp_path / "b.gan"), "--run", str(run), *FAST]) == 2
    assert "--resize" in capsys.readouterr().err
    assert cli.main(["compress", str(big), "-o", str(tmp_path / "b.gan"), "--run", str(run), "--resize", *FAST]) == 0
    text = tmp_path / "t.png"
    text.write_text("not an image")
    assert cli.main(["compress", str(text), "-o", str(tmp_path / "c.gan"), "--run", str(run)]) == 2


def test_missing_generator_and_bad_arguments(tmp_path, png, capsys):
    assert cli.main(["compress", str(png), "-o", str(tmp_path / "x"), "--run", str(tmp_path)]) == 2
    assert "make train" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["compress", str(png), "-o", "x", "--loss", "foo"])
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
