"""Hostile and careless inputs (issue 11): latent files that claim too much, mutated files with a
valid checksum, files of the old format version, unreadable images and model files, misspelled
parameters, file permissions."""
import binascii
import json
import os
import subprocess
import time
from pathlib import Path

import nbformat
import numpy as np
import papermill
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ganlib.codecs.gan import GanCodec
from ganlib.core import files, params, paths
from ganlib.data import datasets
from ganlib.formats import latent_format
from ganlib.models import checkpoints
from ganlib.models.nets import GanConfig
from ganlib.pipeline import profiles

ROOT = Path(__file__).resolve().parents[2]
GEN = b"\x01\x02\x03\x04"  # a generator fingerprint


MODELS = {}  # the models the tests decode with, by fingerprint (a decoder is always given its models)


def model(latent_dim: int, std: float = 1.0, shape=(28, 28, 1)) -> latent_format.LatentModel:
    """A model (unit-like prior) of any latent_dim, added to MODELS."""
    m = latent_format.LatentModel.create(GEN, shape, 3.0, np.zeros(latent_dim), np.full(latent_dim, std))
    MODELS[m.fingerprint] = m
    return m


def pack(latent, mode=None, model=None):
    """latent_format.pack with the model looked up among this module's models (MODELS) by default."""
    return latent_format.pack(latent, MODELS if model is None else model, mode)


def unpack(blob, model=None, **kwargs):
    """latent_format.unpack with the model looked up among this module's models (MODELS) by default."""
    return latent_format.unpack(blob, MODELS if model is None else model, **kwargs)


M64, M16, M100, M1, M200 = model(64), model(16, 0.6), model(100), model(1), model(200)
LARGEST = model(latent_format.MAX_LATENT_DIM, shape=(64, 64, 3))


def with_crc(body: bytes) -> bytes:
    return body + latent_format.checksum(body)


def crafted(fingerprint: bytes, bits: int, mode: int, payload: bytes, version: int = 2) -> bytes:
    """A latent file with any header claims and a valid checksum."""
    return with_crc(bytes([version << 5 | mode << 4 | (bits - 1)]) + fingerprint + payload)


# ---------------------------------------------------------------- bounded work for any latent file
def test_crafted_4mb_raw_file_is_refused_fast(small_generator):
    """The issue's file: raw mode, a 4 MB payload, valid header and CRC."""
    blob = crafted(M64.fingerprint, 16, 0, bytes(2 * (2**21 - 1)))
    assert len(blob) > 4 * 10**6
    start = time.perf_counter()
    with pytest.raises(latent_format.CodecError, match="longer than any valid latent file"):
        unpack(blob)
    with pytest.raises(latent_format.CodecError):
        GanCodec(small_generator).decode(blob)
    assert time.perf_counter() - start < 2


def test_raw_unpacking_is_linear():
    """The bit unpacker itself on a 4 MB payload (far beyond the format's limit) stays fast."""
    n = 2**21 - 1
    symbols = np.random.default_rng(0).integers(0, 1 << 16, n)
    payload = latent_format._pack_raw(symbols, 16)
    start = time.perf_counter()
    assert np.array_equal(latent_format._unpack_raw(payload, 16, n), symbols)
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize("bits", [1, 3, 7, 8, 13, 16])
def test_raw_packing_matches_the_big_integer_definition(bits):
    symbols = np.random.default_rng(bits).integers(0, 1 << bits, 100)
    acc = 0
    for s in symbols:
        acc = (acc << bits) | int(s)
    nbytes = (100 * bits + 7) // 8
    assert latent_format._pack_raw(symbols, bits) == (acc << (8 * nbytes - 100 * bits)).to_bytes(nbytes, "big")


def test_largest_allowed_files_decode_fast():
    """The largest files the format allows: latent_dim 4096 at 16 bits, raw and range-coded with
    the longest payload (random bytes, one short of raw); each is decoded or refused well under the bound."""
    n = latent_format.MAX_LATENT_DIM
    rng = np.random.default_rng(0)
    payload = rng.integers(0, 256, latent_format.raw_payload_bytes(n, 16), dtype=np.uint8).tobytes()
    raw = crafted(LARGEST.fingerprint, 16, 0, payload)
    ranged = crafted(LARGEST.fingerprint, 16, 1,
                     rng.integers(0, 256, latent_format.raw_payload_bytes(n, 16) - 1, dtype=np.uint8).tobytes())
    assert len(raw) == latent_format.MAX_FILE_BYTES and len(ranged) == latent_format.MAX_FILE_BYTES - 1
    start = time.perf_counter()
    assert unpack(raw).latent_dim == n
    try:
        unpack(ranged)
    except latent_format.CodecError:
        pass
    assert time.perf_counter() - start < 2


def test_any_file_up_to_1mb_is_refused_fast():
    rng = np.random.default_rng(1)
    for size in (latent_format.MAX_FILE_BYTES + 1, 10**5, 10**6):
        blob = with_crc(bytes([0x4F]) + M64.fingerprint + rng.integers(0, 256, size - 7, dtype=np.uint8).tobytes())
        start = time.perf_counter()
        with pytest.raises(latent_format.CodecError):
            unpack(blob)
        assert time.perf_counter() - start < 0.5


def test_the_limits_are_the_models_and_honest_files_fit():
    with pytest.raises(ValueError):
        GanConfig(latent_dim=latent_format.MAX_LATENT_DIM + 1)
    GanConfig(latent_dim=latent_format.MAX_LATENT_DIM)
    with pytest.raises(ValueError, match="1 to 4096"):
        model(latent_format.MAX_LATENT_DIM + 1)
    for bits in (1, 8, 16):  # the worst and the best symbols for the range coder still fit the bound
        for sym in (0, (1 << bits) // 3, (1 << bits) - 1):
            latent = latent_format.LatentFile(LARGEST.fingerprint, bits, (64, 64, 3), 3.0,
                                              np.full(latent_format.MAX_LATENT_DIM, sym))
            start = time.perf_counter()
            blob = pack(latent)
            bound = latent_format.max_file_bytes(latent_format.MAX_LATENT_DIM, bits)
            assert len(blob) <= bound <= latent_format.MAX_FILE_BYTES
            assert np.array_equal(unpack(blob).symbols, latent.symbols)
            assert time.perf_counter() - start < 5
    assert latent_format.MAX_FILE_BYTES == 8199


def test_header_is_checked_before_the_payload():
    """``expect`` sees the header first: a file for another model is refused without decoding."""
    blob = crafted(M64.fingerprint, 8, 1, b"\xff" * 40)  # a range payload that would not decode
    seen = []

    def refuse(header):
        seen.append(header)
        raise latent_format.CodecError("another generator")

    with pytest.raises(latent_format.CodecError, match="another generator"):
        unpack(blob, expect=refuse)
    assert (seen[0].fingerprint, seen[0].bits, seen[0].mode, seen[0].start) == (M64.fingerprint, 8, "range", 5)


def test_gan_codec_check_accepts_a_header(small_generator):
    """What the CLI does before decoding (and GanCodec.decode does with unpack(expect=check))."""
    gan = GanCodec(small_generator)
    good = gan.pack(np.zeros(8, dtype=int))
    gan.check(latent_format.read_header(good))
    with pytest.raises(latent_format.CodecError, match="another generator or prior"):
        # the generator's own fingerprint is not a model's
        gan.check(latent_format.read_header(crafted(gan.fingerprint, 8, 0, bytes(8))))
    with pytest.raises(latent_format.CodecError, match="another generator or prior"):
        gan.decode(crafted(M64.fingerprint, 8, 0, bytes(64)))  # a valid file of another model


def test_version_1_files_are_refused_by_name(small_generator):
    """A version-1 file (magic 0xC7, its own header and CRC from 0) of this very generator."""
    gan = GanCodec(small_generator)
    body = bytes([0xC7, 1 << 5 | 0 << 4 | 7]) + gan.fingerprint + bytes([8, 28, 28, 1, 48]) + bytes(8)
    v1 = body + binascii.crc_hqx(body, 0).to_bytes(2, "big")
    for decode in (gan.decode, lambda b: gan.decode_batch([b]), latent_format.read_header):
        with pytest.raises(latent_format.CodecError, match=r"^version 1 file; this decoder reads version 2"):
            decode(v1)


# ---- fuzzing the parser behind the checksum: every mutated file gets a valid CRC again
VALID = [pack(latent_format.LatentFile(m.fingerprint, b, m.shape, 3.0, latent_format.quantize(
             np.clip(np.random.default_rng(i).normal(size=m.latent_dim), -3, 3), b, 3.0)), mode=mode)
         for i, (m, b, mode) in enumerate([(M64, 8, None), (M64, 8, "raw"), (M16, 3, None), (M100, 16, None),
                                           (M1, 1, "raw"), (M64, 5, None), (M200, 12, "raw"), (M64, 2, None)])]
FUZZ = settings(max_examples=1500, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def test_the_fuzzed_files_include_range_coded_ones():
    assert sum(blob[0] >> 4 & 1 for blob in VALID) >= 4


def decodes_or_refuses(blob: bytes) -> None:
    start = time.perf_counter()
    try:
        f = unpack(blob)
    except latent_format.CodecError:
        pass
    else:
        header = latent_format.read_header(blob)
        model = MODELS.get(header.fingerprint)
        assert f.latent_dim == model.latent_dim <= latent_format.MAX_LATENT_DIM and f.shape == model.shape
        assert 1 <= f.bits <= 16 and f.symbols.min() >= 0 and f.symbols.max() < 1 << f.bits
        assert len(blob) <= latent_format.max_file_bytes(model.latent_dim, f.bits) <= latent_format.MAX_FILE_BYTES
    assert time.perf_counter() - start < 1


@FUZZ
@given(st.sampled_from(VALID), st.lists(st.tuples(st.sampled_from(["flip", "set", "insert", "delete"]),
                                                  st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6))
def test_fuzz_mutations_with_a_valid_checksum(mutate, blob, edits):
    decodes_or_refuses(with_crc(mutate(blob[:-2], edits)))


FINGERPRINTS = st.one_of(st.sampled_from([m.fingerprint for m in (M64, M16, M100, M1, M200, LARGEST)]),
                         st.binary(min_size=4, max_size=4))


@FUZZ
@given(st.integers(0, 7), st.integers(1, 16), st.integers(0, 1), FINGERPRINTS,
       st.one_of(st.sampled_from(["raw", "raw-1", "raw+1"]), st.integers(0, 20000)), st.binary(min_size=1, max_size=64))
def test_fuzz_headers_with_a_valid_checksum(version, bits, mode, fingerprint, length, pattern):
    """Any header (version, mode, bits, known or unknown model) and payload (often of the length
    the model implies, or one byte off), with a valid checksum: decoded or refused, quickly."""
    m = MODELS.get(fingerprint)
    if isinstance(length, str):
        raw = latent_format.raw_payload_bytes(m.latent_dim if m else 64, bits)
        length = max(0, raw + {"raw": 0, "raw-1": -1, "raw+1": 1}[length])
    payload = (pattern * (length // len(pattern) + 1))[:length]
    decodes_or_refuses(crafted(fingerprint, bits, mode, payload, version))


# ---------------------------------------------------------------- files people can read
@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_respect_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        files.write_bytes(tmp_path / "a.bin", b"x")
        files.write_text(tmp_path / "b.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == mode
    assert (tmp_path / "b.txt").stat().st_mode & 0o777 == mode


def test_long_names_and_interrupts(tmp_path):
    name = "n" * 250 + ".gan"
    files.write_bytes(tmp_path / name, b"x")
    assert (tmp_path / name).read_bytes() == b"x"
    with pytest.raises(KeyboardInterrupt):
        with files.atomic_path(tmp_path / "c.bin") as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_make_lab_runs_as_root():
    out = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if "jupyter lab" in line)
    assert ("--allow-root" in line) == (os.geteuid() == 0)


# ---------------------------------------------------------------- images and the folder data set
def test_one_reader_scales_16_bit_images(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 28).round().astype(np.uint16), (28, 1))
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "zero.png")
    read = datasets.read_image(tmp_path / "ramp.png", 28, 1, resize=False)
    assert read[0, 0, 0] == 0 and read[0, -1, 0] == 255 and abs(read.mean() - 127.5) < 1
    arrays = datasets.load("folder", str(tmp_path), 28, 1, seed=0, unseen_fraction=0.5)
    loaded = np.concatenate([arrays["train"], arrays["test"]])
    assert any(np.array_equal(im, read) for im in loaded)


def test_decompression_bomb_is_refused_by_name(tmp_path):
    Image.new("L", (10000, 10000)).save(tmp_path / "bomb.png")
    bomb = r"bomb.png: refused, a possible decompression bomb \(100,000,000 pixels\)"
    with pytest.raises(datasets.ImageError, match=bomb):
        datasets.read_image(tmp_path / "bomb.png", 28, 1)


def test_unreadable_files_are_skipped_each_named(tmp_path, rng, capsys):
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (30, 30), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "text.jpg").write_text("not an image")
    (tmp_path / "cut.png").write_bytes((tmp_path / "0.png").read_bytes()[:200])
    (tmp_path / ".hidden.png").write_text("editors and macOS leave these")
    arrays = datasets.load("folder", str(tmp_path), 28, 1, seed=0, unseen_fraction=0.3)
    assert len(arrays["train"]) + len(arrays["test"]) == 6
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3
    assert err[0].startswith("warning: skipped ") and "cut.png" in err[0]
    assert "text.jpg" in err[1]
    assert err[2].startswith("warning: skipped 2 of 8 image files")


def test_too_few_images(tmp_path, rng, capsys):
    Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(tmp_path / "one.png")
    (tmp_path / "two.png").write_text("broken")
    with pytest.raises(ValueError, match="1 readable image.*at least 2 are needed"):
        datasets.load("folder", str(tmp_path), 28, 1, seed=0)
    capsys.readouterr()
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(tmp_path / f"more{i}.png")
    datasets.load("folder", str(tmp_path), 28, 1, seed=0)
    assert "needs at least 2 in each" in capsys.readouterr().err


# ---------------------------------------------------------------- model files
@pytest.fixture
def saved(tmp_path, small_generator):
    checkpoints.save_generator(tmp_path / "run", small_generator)
    return tmp_path / "run"


@pytest.mark.parametrize("damage,message", [
    (lambda r: (r / "generator.safetensors").write_bytes((r / "generator.safetensors").read_bytes()[:500]),
     r"generator.safetensors: not a readable safetensors file"),
    (lambda r: (r / "generator.json").write_text("garbage"), r"generator.json: not a readable JSON file"),
    (lambda r: (r / "generator.json").write_text('{"x": 1}'), r"generator.json: no 'config' object"),
    (lambda r: (r / "generator.json").write_text('{"config": {"widht": 8}}'),
     r"generator.json: invalid generator config"),
    (lambda r: (r / "generator.json").write_text('{"config": {"latent_dim": 0}}'),
     r"generator.json: invalid generator config"),
    (lambda r: (r / "generator.json").write_text('{"config": {"latent_dim": 9, "width": 8}}'),
     r"generator.safetensors does not match the generator described by .*generator.json \(.*size mismatch"),
])
def test_bad_model_files_name_the_file(saved, damage, message):
    damage(saved)
    with pytest.raises(checkpoints.CheckpointError, match=message) as exc:
        checkpoints.load_generator(saved)
    assert "\n" not in str(exc.value)


def test_missing_generator_suggests_make_train_only_for_a_profile_run(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as exc:
        checkpoints.load_generator(tmp_path / "somewhere" / "mine")
    assert "PROFILE=mine" not in str(exc.value) and "PROFILE=<profile>" in str(exc.value)
    monkeypatch.setenv("GANLIB_WORKDIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"make train PROFILE=smoke\)"):
        checkpoints.load_generator(tmp_path / "runs" / "smoke")
    with pytest.raises(FileNotFoundError, match=r"make train PROFILE=smoke WORKDIR="):
        checkpoints.load_generator(tmp_path / "other" / "runs" / "smoke")


# ---------------------------------------------------------------- no silent parameter
def profile_file(tmp_path, monkeypatch, sections) -> str:
    (tmp_path / "typo.yaml").write_text(sections if isinstance(sections, str) else json.dumps(sections))
    monkeypatch.setattr(paths, "profile_path", lambda profile: tmp_path / f"{profile}.yaml")
    return "typo"


def test_misspelled_profile_key_fails_naming_it(tmp_path, monkeypatch, capsys):
    profile = profile_file(tmp_path, monkeypatch, {"data": {"seed": 0}, "invert_seen": {"stpes": 50, "loss": "mse"}})
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) 'stpes' \(did you mean 'steps'\?\) in section "
                                         r"'invert_seen' \(03_invert.ipynb\); allowed: split, name, mode, loss"):
        profiles.stage_params(profile, "data")  # any stage: the whole profile is checked
    assert profiles.main([profile, "data", "-o", str(tmp_path / "data.yaml")]) == 2
    assert capsys.readouterr().err.count("\n") == 1 and not (tmp_path / "data.yaml").exists()


@pytest.mark.parametrize("text,message", [
    ("data: [1, 2]", "section 'data' must be a mapping"),
    ("data: {seed: 0\n", "not valid YAML"),
    ("- 1\n", "must be a mapping of stage names"),
    ("dta: {}", "unknown section"),
    ("results: {profile: other}", "unknown parameter.*'profile'"),
])
def test_malformed_profiles(tmp_path, monkeypatch, text, message):
    profile = profile_file(tmp_path, monkeypatch, text)
    with pytest.raises(ValueError, match=message):
        profiles.load_profile(profile)


def test_stage_notebook_parameters_are_papermills():
    for stage in profiles.STAGES:
        if profiles.notebook(stage).is_file():
            documented = papermill.inspect_notebook(str(profiles.notebook(stage)))
            assert list(profiles.notebook_parameters(stage)) == list(documented)
    assert profiles.notebook("invert_seen_ssim").name == "03_invert.ipynb"
    stages = [s for s in profiles.STAGES if not s.startswith("invert_")]
    assert stages == [s for s in profiles.NOTEBOOKS if s != "invert"]


def fake_kernel(parameters_cell: str, injected: str | None) -> dict:
    history = ["", "import os", parameters_cell, *([injected] if injected else []), "params.reject_unknown(globals())"]
    return {"In": history, "__annotations__": {}}


def test_reject_unknown_reads_papermills_injected_cell():
    cell = 'profile: str = "default"  # run\nsteps: int = 1000  # steps\n'
    params.reject_unknown(fake_kernel(cell, None))  # run by hand: nothing injected
    params.reject_unknown(fake_kernel(cell, "# Parameters\nsteps = 10\nprofile = 'smoke'\n"))
    params.reject_unknown(fake_kernel(cell, "# Parameters\nPAPERMILL_INPUT_PATH = 'x'\n"))
    message = r"unknown parameter\(s\) 'stepz' \(did you mean 'steps'\?\).*allowed: profile, steps"
    with pytest.raises(ValueError, match=message):
        params.reject_unknown(fake_kernel(cell, "# Parameters\nstepz = 10\n"))


def test_reject_unknown_in_a_real_papermill_run(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('steps: int = 1  # steps', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("from ganlib.core import params\nparams.reject_unknown(globals())")]
    nb.metadata["kernelspec"] = {"name": "ganlib", "language": "python", "display_name": "Python (ganlib)"}
    nbformat.write(nb, tmp_path / "nb.ipynb")
    papermill.execute_notebook(str(tmp_path / "nb.ipynb"), str(tmp_path / "ok.ipynb"), parameters={"steps": 3},
                               kernel_name="ganlib", progress_bar=False)
    with pytest.raises(papermill.PapermillExecutionError, match="unknown parameter.*'stepz'"):
        papermill.execute_notebook(str(tmp_path / "nb.ipynb"), str(tmp_path / "bad.ipynb"), parameters={"stepz": 3},
                                   kernel_name="ganlib", progress_bar=False)
