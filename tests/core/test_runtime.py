import io
import os
import sys
import warnings

from ganlib.core import paths, runtime


class KernelStderr(io.StringIO):
    """Stands in for ipykernel's OutStream: what is written to it becomes notebook output; the
    real terminal is the saved descriptor ``_original_stdstream_copy``."""

    def __init__(self, fd: int):
        super().__init__()
        self._original_stdstream_copy = fd


def test_progress_goes_to_the_terminal_and_not_to_the_notebook(monkeypatch, tmp_path):
    terminal = tmp_path / "terminal"
    fd = os.open(terminal, os.O_WRONLY | os.O_CREAT)
    notebook = KernelStderr(fd)
    monkeypatch.setattr(sys, "stderr", notebook)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no TqdmWarning either
        assert list(runtime.progress(range(3), desc="work", mininterval=0)) == [0, 1, 2]
    runtime.terminal().flush()
    os.close(fd)
    assert notebook.getvalue() == ""
    assert "work: 100%" in terminal.read_text()


def test_progress_outside_a_kernel_uses_stderr(capsys):
    bar = runtime.progress(None, desc="files", total=2, mininterval=0)
    bar.update(2)
    bar.close()
    assert "files: 100%" in capsys.readouterr().err
    assert list(runtime.progress([1, 2], disable=True)) == [1, 2]


def test_relative_paths(monkeypatch, tmp_path):
    monkeypatch.setenv("GANLIB_WORKDIR", str(tmp_path))
    assert paths.relative(tmp_path / "runs" / "smoke" / "data.npz") == "runs/smoke/data.npz"
    assert paths.relative(paths.project_root() / "params" / "smoke.yaml") == "params/smoke.yaml"
    assert paths.relative(tmp_path) == "."
    assert paths.relative("/nowhere/else") == "/nowhere/else"
