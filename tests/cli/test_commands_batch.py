"""The command line on several files and folders (issue 8 item 4) and on hostile paths (issue 11)."""
import ast
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

from ganlib.cli import commands as cli
from ganlib.codecs.gan import GanCodec
from ganlib.core import runtime
from ganlib.inversion import modes
from ganlib.models import encoder, prior
from ganlib.models.checkpoints import load_generator, save_generator
from ganlib.models.nets import Encoder, GanConfig, Generator, init_weights
from ganlib.pipeline import profiles

FAST = ["--steps", "15", "--restarts", "1", "--refine-steps", "2", "--init", "random"]


@pytest.fixture
def run(tmp_path, small_generator):
    save_generator(tmp_path / "run", small_generator)
    return tmp_path / "run"


def write_images(folder, generator, n, start=0.0):
    folder.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        images = runtime.to_uint8(generator(torch.linspace(start - 1, start + 1, n)[:, None].repeat(1, 8)))
    for i, im in enumerate(images):
        Image.fromarray(im[..., 0]).save(folder / f"im{i}.png")
    return sorted(folder.glob("*.png"))


@pytest.fixture
def photos(tmp_path, small_generator):
    """photos/: 3 images, a 16-bit one, sub/ with 2 more, a text file posing as an image, a hidden file."""
    root = tmp_path / "photos"
    write_images(root, small_generator, 3)
    write_images(root / "sub", small_generator, 2, start=0.5)
    Image.fromarray(np.full((28, 28), 40000, np.uint16)).save(root / "deep.png")
    (root / "broken.jpg").write_text("not an image")
    (root / ".hidden.png").write_text("ignored")
    return root


def outputs(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_folder_compress_mirrors_skips_bad_and_resumes(run, photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["compress", str(photos), "-o", str(out), "--run", str(run), "--batch", "4", *FAST]) == 2
    err = capsys.readouterr().err
    assert outputs(out) == ["deep.gan", "im0.gan", "im1.gan", "im2.gan", "sub/im0.gan", "sub/im1.gan"]
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: {photos / 'broken.jpg'}: cannot read it as an image (cannot identify image file)"]
    assert "wrote 6 latent files" in err and "1 failed" in err
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.gan")}
    (out / "im1.gan").unlink()
    (photos / "broken.jpg").unlink()
    assert cli.main(["compress", str(photos), "-o", str(out), "--run", str(run), *FAST]) == 0
    err = capsys.readouterr().err
    assert "wrote 1 latent file " in err and "skipped 5 that exist" in err
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items() if p.name != "im1.gan" or p.parent != out)
    for p in out.rglob("*.gan"):
        GanCodec(load_generator(run)).unpack(p.read_bytes())
    assert not [p for p in out.rglob(".*")]


def test_several_files_and_batched_decoding_equal_single(run, photos, tmp_path, capsys):
    latents = tmp_path / "latents"
    inputs = [str(p) for p in sorted(photos.glob("im*.png"))]
    assert cli.main(["compress", *inputs, "-o", str(latents), "--run", str(run), *FAST]) == 0
    assert outputs(latents) == ["im0.gan", "im1.gan", "im2.gan"]
    back = tmp_path / "back"
    assert cli.main(["decompress", str(latents), "-o", str(back), "--run", str(run), "--batch", "2"]) == 0
    gan = GanCodec(load_generator(run))
    for f in latents.glob("*.gan"):
        single = tmp_path / f"{f.stem}.png"
        assert cli.main(["decompress", str(f), "-o", str(single), "--run", str(run)]) == 0
        batched = np.asarray(Image.open(back / f"{f.stem}.png"))
        assert np.array_equal(batched, np.asarray(Image.open(single)))
        assert np.array_equal(batched[..., None], gan.decode(f.read_bytes()))


def test_a_bad_latent_file_in_a_batch_fails_alone(run, photos, tmp_path, small_generator, capsys):
    latents = tmp_path / "latents"
    cli.main(["compress", *map(str, sorted(photos.glob("im*.png"))), "-o", str(latents), "--run", str(run), *FAST])
    blob = (latents / "im1.gan").read_bytes()
    (latents / "im1.gan").write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    (latents / "huge.gan").write_bytes(bytes([0x47]) + bytes(5 * 10**6))
    torch.manual_seed(5)
    other = Generator(GanConfig(latent_dim=8, width=8))
    other.apply(init_weights)
    (latents / "foreign.gan").write_bytes(GanCodec(other).pack(np.zeros(8, dtype=int)))
    capsys.readouterr()
    start = time.perf_counter()
    assert cli.main(["decompress", str(latents), "-o", str(tmp_path / "back"), "--run", str(run)]) == 1
    assert time.perf_counter() - start < 10
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 3
    assert any("foreign.gan: file was made with another generator" in e for e in errors)
    assert any("huge.gan: file of 5,000,001 bytes is longer than any valid latent file" in e for e in errors)
    assert any("im1.gan: file is corrupted" in e for e in errors)
    assert outputs(tmp_path / "back") == ["im0.png", "im2.png"]


def test_never_overwrites_an_input(run, photos, tmp_path, capsys):
    image = photos / "im0.png"
    before = image.read_bytes()
    assert cli.main(["compress", str(image), "-o", str(image), "--run", str(run), *FAST]) == 2
    link = tmp_path / "link.gan"
    link.symlink_to(image)
    assert cli.main(["compress", str(image), "-o", str(link), "--run", str(run), *FAST]) == 2
    os.link(image, tmp_path / "hard.gan")
    assert cli.main(["compress", str(image), "-o", str(tmp_path / "hard.gan"), "--run", str(run), *FAST]) == 2
    assert image.read_bytes() == before
    assert cli.main(["compress", str(image), "-o", str(tmp_path / "x.gan"), "--run", str(run), *FAST]) == 0
    latent = (tmp_path / "x.gan").read_bytes()
    assert cli.main(["decompress", str(tmp_path / "x.gan"), "-o", str(tmp_path / "x.gan"), "--run", str(run)]) == 2
    assert (tmp_path / "x.gan").read_bytes() == latent
    # in a batch: one input's output is another input
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.png").write_bytes(before)
    assert cli.main(["decompress", str(tmp_path / "x.gan"), str(tmp_path / "b" / "x.png"), "-o", str(tmp_path / "b"),
                     "--run", str(run)]) == 2
    assert (tmp_path / "b" / "x.png").read_bytes() == before
    errors = capsys.readouterr().err
    assert errors.count("is an input; refusing to write over it") == 5


@pytest.mark.parametrize("output,message", [
    ("file.txt/x.gan", "cannot be created, .*file.txt is not a directory"),
    ("adir", "adir/im0.gan: is a directory"),  # -o a directory: written into it as adir/im0.gan, here a directory
    ("n" * 300 + ".gan", "longer than the file system allows"),
])
def test_output_paths_are_checked_before_the_search(run, photos, tmp_path, monkeypatch, capsys, output, message):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "adir" / "im0.gan").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(GanCodec, "encode_batch", lambda *a: pytest.fail("the search started"))
    status = cli.main(["compress", str(photos / "im0.png"), "-o", output, "--run", str(run), *FAST])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and err.startswith("error: ")
    assert re.search(message, err), err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_output_directory(run, photos, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    assert cli.main(["compress", str(photos / "im0.png"), "-o", str(locked / "x.gan"), "--run", str(run), *FAST]) == 2
    assert "permission denied" in capsys.readouterr().err


def test_batch_output_must_be_a_directory_and_names_must_not_collide(run, photos, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert cli.main(["compress", str(photos), "-o", str(tmp_path / "file"), "--run", str(run)]) == 2
    assert "is not a directory" in capsys.readouterr().err
    (tmp_path / "twin").mkdir()
    Image.open(photos / "im0.png").save(tmp_path / "twin" / "im0.jpg")
    assert cli.main(["compress", str(photos / "im0.png"), str(tmp_path / "twin" / "im0.jpg"), "-o", str(tmp_path / "o"),
                     "--run", str(run)]) == 2
    assert "would both be written to" in capsys.readouterr().err
    assert cli.main(["compress", str(tmp_path / "nothing.png"), "-o", str(tmp_path / "o"), "--run", str(run)]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    (tmp_path / "into").mkdir()
    assert cli.main(["compress", str(photos / "im0.png"), "-o", str(tmp_path / "into"), "--run", str(run), *FAST]) == 0
    assert outputs(tmp_path / "into") == ["im0.gan"]


def test_interrupt_in_process_leaves_nothing_partial(run, photos, tmp_path, monkeypatch, capsys):
    calls = []

    def interrupted(self, images, *args):
        calls.append(len(images))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, images, *args)

    original = GanCodec.encode_batch
    monkeypatch.setattr(GanCodec, "encode_batch", interrupted)
    out = tmp_path / "out"
    assert cli.main(["compress", str(photos), "-o", str(out), "--run", str(run), "--batch", "2", *FAST]) == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("interrupted: ")
    assert "Traceback" not in err
    assert outputs(out) == ["deep.gan"]  # the first batch (broken.jpg, deep.png), complete; no temporary files


def test_ctrl_c_exits_130(run, photos, tmp_path):
    """A real SIGINT to a running folder compression: status 130, one line, only complete files."""
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "ganlib", "compress", str(photos), "-o", str(out), "--run", str(run),
                             "--batch", "1", "--steps", "300", "--restarts", "1", "--init", "random"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(out.glob("*.gan")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted: ")
    for p in out.rglob("*"):
        assert not p.name.startswith("."), p
        if p.is_file():
            GanCodec(load_generator(run)).unpack(p.read_bytes())


# ---------------------------------------------------------------- the model and the search settings
@pytest.fixture
def encoder_run(tmp_path, small_generator):
    save_generator(tmp_path / "erun", small_generator)
    torch.manual_seed(1)
    E = Encoder(small_generator.config)
    E.apply(init_weights)
    encoder.save_encoder(tmp_path / "erun", E.eval(), small_generator)
    return tmp_path / "erun"


def search_config(monkeypatch):
    seen = []
    original = GanCodec.__init__

    def spy(self, G, bits=8, config=None, encoder=None, progress=False, **kwargs):
        seen.append((config, encoder))
        original(self, G, bits, config, encoder, progress, **kwargs)

    monkeypatch.setattr(GanCodec, "__init__", spy)
    return seen


def test_encoder_by_default_random_on_request(encoder_run, run, photos, tmp_path, monkeypatch):
    """The search GanCodec gets is the mode's (modes.hybrid_config / search_config) with exactly the
    options given replaced: every field compared."""
    seen = search_config(monkeypatch)
    image = str(photos / "im0.png")
    assert cli.main(["compress", image, "-o", str(tmp_path / "a.gan"), "--run", str(encoder_run)]) == 0
    config, E = seen[-1]
    assert E is not None and config == modes.hybrid_config()
    assert (config.init, config.optimizer, config.restarts, config.steps, config.refine_steps, config.lr) == (
        "encoder", modes.HYBRID_OPTIMIZER, 1, modes.HYBRID_STEPS, modes.HYBRID_REFINE_STEPS, modes.HYBRID_LR)
    assert cli.main(["compress", image, "-o", str(tmp_path / "b.gan"), "--run", str(encoder_run), "--init", "random",
                     "--steps", "10", "--refine-steps", "2"]) == 0
    config, E = seen[-1]
    assert E is None and config == dataclasses.replace(modes.search_config(), steps=10, refine_steps=2)
    assert (config.init, config.optimizer, config.restarts) == ("random", "adam", 4)
    assert cli.main(["compress", image, "-o", str(tmp_path / "d.gan"), "--run", str(encoder_run), "--optimizer", "adam",
                     "--steps", "5", "--seed", "3"]) == 0
    config = seen[-1][0]  # the Adam hybrid 03b measures: lr 0.05 and 20 refinement steps, not the search's
    assert config == modes.hybrid_config(steps=5, seed=3, optimizer="adam")
    assert (config.lr, config.refine_steps) == (modes.ADAM_HYBRID_LR, modes.ADAM_HYBRID_REFINE_STEPS)
    assert cli.main(["compress", image, "-o", str(tmp_path / "e.gan"), "--run", str(encoder_run), "--optimizer", "adam",
                     "--steps", "0", "--lr", "0.5", "--rate-lambda", "0.001"]) == 0
    assert seen[-1][0] == dataclasses.replace(modes.hybrid_config(steps=0, optimizer="adam"), lr=0.5,
                                              rate_lambda=0.001)  # the encoder alone: no refinement
    assert cli.main(["compress", image, "-o", str(tmp_path / "c.gan"), "--run", str(run), "--steps", "10",
                     "--refine-steps", "2", "--restarts", "2"]) == 0
    assert seen[-1][1] is None  # no encoder in the run: random starts
    assert seen[-1][0] == dataclasses.replace(modes.search_config(), steps=10, refine_steps=2, restarts=2)


def tradeoff_parameters(profile: str = "default") -> dict:
    """03b_tradeoff's parameters under ``profile``: the profile's tradeoff section (params/<profile>.yaml)
    over the defaults of the notebook's parameters cell."""
    nb = profiles.notebook("tradeoff")
    cell = next(c for c in json.loads(nb.read_text())["cells"]
                if "parameters" in c.get("metadata", {}).get("tags", []))
    source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    defaults = {s.target.id: ast.literal_eval(s.value) for s in ast.parse(source).body if isinstance(s, ast.AnnAssign)}
    return {**defaults, **profiles.stage_params(profile, "tradeoff")}


@pytest.mark.parametrize("options,encoder,name", [([], True, "hybrid"), (["--optimizer", "adam"], True, "hybrid"),
                                                  (["--init", "random"], False, "search"),
                                                  (["--init", "random", "--optimizer", "lbfgs"], False, "search")])
def test_every_mode_the_command_line_runs_is_one_the_report_measures(options, encoder, name):
    """With its defaults, each mode of ``compress`` (the hybrid with either optimizer, the search from
    random starts with either) is exactly one of the modes 03b_tradeoff measures in the default profile."""
    p = tradeoff_parameters()
    measured = modes.modes(p["loss"], p["encoder_steps"], p["search_steps"], p["restarts"], p["seed"], p["adam_steps"],
                           p["lbfgs_search_steps"])
    args = cli.parser().parse_args(["compress", "in.png", "-o", "out.gan", *options])
    config = cli.inversion_config(args, object() if encoder else None)
    assert [m.name for m in measured if m.config == config] == [name], config
    if "--optimizer" in options:
        assert config.optimizer == options[-1]


def test_encoder_errors(encoder_run, run, photos, tmp_path, capsys):
    image = str(photos / "im0.png")
    assert cli.main(["compress", image, "-o", str(tmp_path / "a.gan"), "--run", str(run), "--init", "encoder"]) == 2
    assert "has no encoder.safetensors" in capsys.readouterr().err
    args = ["compress", image, "-o", str(tmp_path / "a.gan"), "--run", str(encoder_run), "--restarts", "3"]
    assert cli.main(args) == 2
    assert "restarts=3 is not allowed with init='encoder'" in capsys.readouterr().err
    torch.manual_seed(3)
    other = Generator(GanConfig(latent_dim=8, width=8))
    other.apply(init_weights)
    save_generator(encoder_run, other)  # the encoder now belongs to another generator
    assert cli.main(["compress", image, "-o", str(tmp_path / "a.gan"), "--run", str(encoder_run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "encoder.safetensors belongs to generator" in err


def test_default_run_is_the_shipped_model(run, photos, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "default_run", lambda: run)
    assert cli.main(["compress", str(photos / "im0.png"), "-o", str(tmp_path / "a.gan"), *FAST]) == 0
    assert cli.main(["decompress", str(tmp_path / "a.gan"), "-o", str(tmp_path / "a.png")]) == 0
    monkeypatch.setattr(cli, "default_run", lambda: tmp_path / "models")
    assert cli.main(["decompress", str(tmp_path / "a.gan"), "-o", str(tmp_path / "b.png")]) == 2
    assert "shipped model is missing" in capsys.readouterr().err


def test_bad_model_files_and_images_are_one_line_status_2(run, photos, tmp_path, small_generator, capsys):
    (run / "generator.json").write_text("{not json")
    assert cli.main(["decompress", str(tmp_path / "x.gan"), "-o", str(tmp_path / "x.png"), "--run", str(run)]) == 2
    (tmp_path / "x.gan").write_bytes(b"x")
    assert cli.main(["decompress", str(tmp_path / "x.gan"), "-o", str(tmp_path / "x.png"), "--run", str(run)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: ") and "no such file" in err[0]
    assert err[1].startswith("error: ") and "generator.json: not a readable JSON file" in err[1]
    Image.new("L", (10000, 10000)).save(tmp_path / "bomb.png")
    good = tmp_path / "good"
    save_generator(good, small_generator)
    assert cli.main(["compress", str(tmp_path / "bomb.png"), "-o", str(tmp_path / "b.gan"), "--run", str(good)]) == 2
    assert "decompression bomb" in capsys.readouterr().err


# ---------------------------------------------------------------- hostile inputs, round 2 (issue 20)
def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def latent(run) -> bytes:
    """A valid latent file for ``run``'s generator, made without a search."""
    return GanCodec(load_generator(run)).pack(np.zeros(8, dtype=int))


def test_special_files_are_skipped_alone_without_blocking(run, small_generator, tmp_path, capsys):
    """A FIFO and a link to /dev/zero among images and latent files: one line each, the good files written."""
    folder, out, back = tmp_path / "special", tmp_path / "out", tmp_path / "back"
    write_images(folder, small_generator, 2)
    os.mkfifo(folder / "fifo.png")
    (folder / "zero.png").symlink_to("/dev/zero")
    signal.alarm(300)  # a FIFO that blocked would hang the test: the alarm ends it instead
    try:
        assert cli.main(["compress", str(folder), "-o", str(out), "--run", str(run), *FAST]) == 2
        assert outputs(out) == ["im0.gan", "im1.gan"]
        assert errors(capsys.readouterr().err) == [
            f"error: {folder / 'fifo.png'}: cannot read it (is a FIFO, not a regular file)",
            f"error: {folder / 'zero.png'}: cannot read it (is a character device, not a regular file)"]
        os.mkfifo(out / "fifo.gan")
        (out / "zero.gan").symlink_to("/dev/zero")
        assert cli.main(["decompress", str(out), "-o", str(back), "--run", str(run)]) == 2
        assert outputs(back) == ["im0.png", "im1.png"]
        assert errors(capsys.readouterr().err) == [
            f"error: {out / 'fifo.gan'}: is a FIFO, not a regular file",
            f"error: {out / 'zero.gan'}: is a character device, not a regular file"]
        for command, src in (("compress", folder / "fifo.png"), ("decompress", out / "zero.gan")):
            assert cli.main([command, str(src), "-o", str(tmp_path / "x"), "--run", str(run)]) == 2
            assert len(errors(capsys.readouterr().err)) == 1
    finally:
        signal.alarm(0)


@pytest.mark.parametrize("kind", ["fifo", pytest.param("device", marks=pytest.mark.skipif(
    os.geteuid() != 0, reason="making a device node (os.mknod) needs root"))])
def test_an_output_that_is_not_a_regular_file_is_refused(run, tmp_path, capsys, kind):
    node = tmp_path / "node"
    if kind == "fifo":
        os.mkfifo(node)
    else:
        os.mknod(node, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
    (tmp_path / "x.gan").write_bytes(latent(run))
    assert cli.main(["decompress", str(tmp_path / "x.gan"), "-o", str(node), "--run", str(run)]) == 2
    what = "a FIFO" if kind == "fifo" else "a character device"
    assert capsys.readouterr().err == f"error: {node}: is {what}, not a regular file; refusing to replace it\n"
    assert (stat.S_ISFIFO if kind == "fifo" else stat.S_ISCHR)(os.lstat(node).st_mode)


def test_decompress_does_not_replace_the_originals(run, small_generator, tmp_path, capsys, monkeypatch):
    """compress D -o D, then decompress D -o D --overwrite would replace the images with their reconstructions."""
    folder = tmp_path / "D"
    write_images(folder, small_generator, 2)
    for i in range(2):
        (folder / f"im{i}.gan").write_bytes(latent(run))
    before = {p: p.read_bytes() for p in folder.glob("*.png")}
    monkeypatch.setattr(GanCodec, "decode_batch", lambda *a: pytest.fail("decoding started"))
    for command in (["decompress", str(folder), "-o", str(folder), "--overwrite"],
                    ["decompress", str(folder / "im0.gan"), "-o", f"{tmp_path}/./D/"]):
        assert cli.main([*command, "--run", str(run)]) == 2
        assert errors(capsys.readouterr().err) == [
            f"error: {folder / 'im0.png'}: lies beside im0.gan and may be the image it was compressed from; "
            "refusing to replace it (give another -o, or --overwrite-originals)"]
    assert {p: p.read_bytes() for p in folder.glob("*.png")} == before
    assert cli.main(["decompress", str(folder), "-o", str(folder), "--run", str(run)]) == 0  # skips them
    assert "skipped 2 that exist" in capsys.readouterr().err
    monkeypatch.undo()
    assert cli.main(["decompress", str(folder), "-o", str(folder), "--overwrite", "--overwrite-originals",
                     "--run", str(run)]) == 0
    assert {p: p.read_bytes() for p in folder.glob("*.png")} != before


def test_names_never_stop_a_batch_or_forge_a_line(run, small_generator, tmp_path, capsys):
    """A name that is not UTF-8 is compressed with random starts like any other (its seed from its bytes),
    and a broken image whose name holds a newline gives one escaped error line."""
    folder, out = tmp_path / "names", tmp_path / "out"
    write_images(folder, small_generator, 2)
    latin = os.fsdecode(b"caf\xe9.png")
    (folder / "im1.png").rename(folder / latin)
    (folder / "x\nerror: forged.png").write_text("not an image")
    assert cli.main(["compress", str(folder), "-o", str(out), "--run", str(run), *FAST]) == 2
    assert sorted(p.name for p in out.iterdir()) == sorted([os.fsdecode(b"caf\xe9.gan"), "im0.gan"])
    assert errors(capsys.readouterr().err) == [
        f"error: {folder}/x\\nerror: forged.png: cannot read it as an image (cannot identify image file)"]
    assert cli.file_seed(0, latin) == int.from_bytes(hashlib.sha256(b"0:caf\xe9.png").digest()[:8], "big") >> 1
    assert cli.file_seed(0, "im0.png") == int.from_bytes(hashlib.sha256(b"0:im0.png").digest()[:8], "big") >> 1


def test_run_and_model_files_that_users_can_break(run, photos, tmp_path, small_generator, capsys):
    """A --run that is a loop of links, a prior with z_range 1e308, a generator.json asking for the
    largest network its config allows and a generator.safetensors that never ends: one line, status 2."""
    (tmp_path / "x.gan").write_bytes(latent(run))
    decompress = ["decompress", str(tmp_path / "x.gan"), "-o", str(tmp_path / "x.png"), "--run"]
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert cli.main([*decompress, str(tmp_path / "loop")]) == 2
    assert errors(capsys.readouterr().err) == [
        f"error: {tmp_path / 'loop'}: --run cannot be used (Too many levels of symbolic links)"]
    assert cli.main(["decompress", str(tmp_path / "loop"), "-o", str(tmp_path / "y.png"), "--run", str(run)]) == 2
    assert errors(capsys.readouterr().err) == [f"error: {tmp_path / 'loop'}: too many levels of symbolic links"]
    prior.save(run, prior.unit(small_generator))
    meta = json.loads((run / "prior.json").read_text())
    (run / "prior.json").write_text(json.dumps({**meta, "z_range": 1e308}))
    assert cli.main([*decompress, str(run)]) == 2
    assert "prior.json: invalid prior (z_range=1e+308 is not allowed" in capsys.readouterr().err
    (run / "prior.json").unlink()
    (run / "generator.json").write_text(json.dumps({"config": {"latent_dim": 4096, "width": 4096,
                                                               "image_size": 128, "channels": 3}}))
    start = time.perf_counter()
    assert cli.main([*decompress, str(run)]) == 2
    assert time.perf_counter() - start < 10
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "parameters; at most 100,000,000 are allowed" in err
    save_generator(run, small_generator)
    (run / "generator.safetensors").unlink()
    (run / "generator.safetensors").symlink_to("/dev/zero")
    assert cli.main([*decompress, str(run)]) == 2
    assert "is a character device, not a regular file" in capsys.readouterr().err


def test_a_foreign_encoder_beside_this_runs_encoder_json_is_refused(encoder_run, photos, tmp_path, capsys):
    torch.manual_seed(3)
    other = Generator(GanConfig(latent_dim=8, width=8))
    other.apply(init_weights)
    E = Encoder(other.config)
    E.apply(init_weights)
    encoder.save_encoder(tmp_path / "other", E.eval(), other)
    (tmp_path / "other" / "encoder.safetensors").replace(encoder_run / "encoder.safetensors")
    assert cli.main(["compress", str(photos / "im0.png"), "-o", str(tmp_path / "a.gan"), "--run",
                     str(encoder_run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "encoder.safetensors was trained against generator" in err


def test_read_only_file_systems_and_vanished_output_folders_are_named(run, photos, tmp_path, capsys, monkeypatch):
    statvfs = os.statvfs
    monkeypatch.setattr(os, "statvfs", lambda path: os.statvfs_result((0,) * 8 + (os.ST_RDONLY, 255)))
    assert cli.main(["compress", str(photos / "im0.png"), "-o", str(tmp_path / "x.gan"), "--run", str(run)]) == 2
    assert capsys.readouterr().err == (f"error: {tmp_path / 'x.gan'}: cannot write in {tmp_path} "
                                       "(read-only file system)\n")
    monkeypatch.setattr(os, "statvfs", statvfs)
    out = tmp_path / "out"
    original = GanCodec.encode_batch

    def replaced(self, images, *args):  # the output folder becomes a file after the first batch
        if out.is_dir() and list(out.glob("*.gan")):
            shutil.rmtree(out)
            out.write_text("not a folder")
        return original(self, images, *args)

    monkeypatch.setattr(GanCodec, "encode_batch", replaced)
    assert cli.main(["compress", *map(str, sorted(photos.glob("im*.png"))), "-o", str(out), "--run", str(run),
                     "--batch", "1", *FAST]) == 2
    assert set(errors(capsys.readouterr().err)) == {
        f"error: {out}: the output folder is no longer a directory (replaced by a file?)"}
