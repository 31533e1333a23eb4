import os

import pytest
import yaml

from ganlib.core import params, paths
from ganlib.pipeline import profiles


def test_checks_name_the_parameter_and_the_allowed_values():
    with pytest.raises(ValueError, match=r"loss='foo'.*mse, l1"):
        params.choice("loss", "foo", ("mse", "l1"))
    with pytest.raises(ValueError, match="steps=0.*positive"):
        params.positive("steps", 0)
    with pytest.raises(ValueError, match="bits=17.*1 to 16"):
        params.int_range("bits", 17, 1, 16)
    with pytest.raises(ValueError, match="bits=True"):
        params.int_range("bits", True, 1, 16)
    assert params.int_list("bits", [8, 3, 8], 1, 16) == [3, 8]
    assert params.int_list("bits", 5, 1, 16) == [5]
    with pytest.raises(ValueError, match="bits"):
        params.int_list("bits", [], 1, 16)


def test_one_line_is_the_message_on_one_line_or_the_type():
    assert params.one_line(ValueError("while parsing\n  in <file>, line 1\n\texpected <end>")) == (
        "while parsing in <file>, line 1 expected <end>")
    assert params.one_line(KeyError()) == "KeyError" and params.one_line(OSError("  ")) == "OSError"
    assert params.one_line(ValueError("abcdef"), limit=4) == "abcd ..."
    assert params.one_line(ValueError("abcd"), limit=4) == "abcd"


def test_profiles_give_each_stage_its_parameters():
    for profile in ("default", "smoke"):
        for stage in profiles.STAGES:
            p = profiles.stage_params(profile, stage)
            assert p["profile"] == profile
    assert profiles.stage_params("default", "invert_unseen")["loss"] == "ssim"
    assert profiles.stage_params("default", "invert_seen")["split"] == "seen"


def test_unknown_profile_and_stage():
    with pytest.raises(ValueError, match="profile='nope'.*default"):
        profiles.stage_params("nope", "data")
    with pytest.raises(ValueError, match="stage='x'"):
        profiles.stage_params("default", "x")
    assert profiles.main(["nope", "data"]) == 2


def test_stage_file_is_rewritten_only_when_its_section_changes(tmp_path):
    out = tmp_path / "params" / "results.yaml"
    assert profiles.main(["default", "results", "-o", str(out)]) == 0
    assert yaml.safe_load(out.read_text()) == profiles.stage_params("default", "results")
    os.utime(out, (1, 1))
    assert profiles.main(["default", "results", "-o", str(out)]) == 0
    assert out.stat().st_mtime == 1  # same content: untouched, so make does not re-run the stage
    out.write_text("profile: default\n")
    assert profiles.main(["default", "results", "-o", str(out)]) == 0
    assert yaml.safe_load(out.read_text()) == profiles.stage_params("default", "results")


def test_the_makefile_runs_every_inversion_of_the_pipeline():
    makefile = (paths.project_root() / "Makefile").read_text()
    assert f"INVERSIONS := {' '.join(paths.INVERSIONS)}\n" in makefile


def test_names_that_become_file_names():
    params.slug("name", "seen_ssim")
    for bad in ["", "../x", "Seen", "a b", 3, "x" * 41]:
        with pytest.raises(ValueError, match="name=.* is not allowed; use 1 to 40 lowercase"):
            params.slug("name", bad)


def test_non_finite_numbers_are_refused():
    for bad in (float("inf"), float("nan"), -1.0, 0):
        with pytest.raises(ValueError, match="lr=.* must be a positive finite number"):
            params.positive("lr", bad)
    params.positive("lr", 1e-3)


def test_yaml_without_aliases_and_bounded(tmp_path):
    """A profile is a few values: aliases (the "billion laughs" bomb) and huge files are refused unread."""
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b]\n"
    (tmp_path / "bomb.yaml").write_text(bomb)
    with pytest.raises(ValueError, match=r"bomb.yaml: not valid YAML \(.*aliases \(\*name\) are not allowed"):
        params.read_yaml(tmp_path / "bomb.yaml")
    (tmp_path / "big.yaml").write_text("x: 1\n" * 1000)
    with pytest.raises(ValueError, match="longer than 1,000 bytes"):
        params.read_yaml(tmp_path / "big.yaml", max_bytes=1000)
    (tmp_path / "ok.yaml").write_text("train: {lr: 0.001, steps: 10}\n")
    assert params.read_yaml(tmp_path / "ok.yaml") == {"train": {"lr": 0.001, "steps": 10}}


def test_printable_escapes_what_could_break_or_forge_a_line():
    name = os.fsdecode(b"caf\xe9\nerror: forged\x1b[2J.png")  # a byte that is not UTF-8, a newline, an escape
    assert params.printable(f"error: {name}: bad") == "error: caf\\xe9\\nerror: forged\\x1b[2J.png: bad"
    assert params.printable("wrote café.gan: 12 bytes") == "wrote café.gan: 12 bytes"


def test_one_line_gives_an_os_errors_reason_alone():
    assert params.one_line(FileNotFoundError(2, "No such file or directory", "/x")) == "No such file or directory"


def test_step_counts_have_a_ceiling():
    params.steps("steps", params.MAX_STEPS)
    params.steps("real_steps", 0, 0)
    for bad in (params.MAX_STEPS + 1, 10**7, 0):
        with pytest.raises(ValueError, match=f"steps={bad} is not allowed; it must be an integer from 1 to 1000000"):
            params.steps("steps", bad)


def test_a_profile_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")
    with pytest.raises(ValueError, match="fifo.yaml: cannot read it .is a FIFO, not a regular file"):
        params.read_yaml(tmp_path / "fifo.yaml")
