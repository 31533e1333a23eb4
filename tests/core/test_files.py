import errno
import os
import signal

import pytest

from ganlib.core import files


def test_atomic_write_replaces(tmp_path):
    target = tmp_path / "sub" / "out.bin"
    files.write_bytes(target, b"one")
    files.write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["out.bin"]


def test_interrupted_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        with files.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- bounded reads of regular files (issue 20)
def test_read_regular_reads_a_regular_file_with_a_bound(tmp_path):
    (tmp_path / "a").write_bytes(b"12345")
    assert files.read_regular(tmp_path / "a", 5) == b"12345"
    with pytest.raises(files.FileTooLong, match="5 bytes, longer than the 4 bytes allowed") as exc:
        files.read_regular(tmp_path / "a", 4)
    assert (exc.value.size, exc.value.limit, exc.value.errno, exc.value.filename) == (5, 4, errno.EFBIG,
                                                                                      str(tmp_path / "a"))


def test_special_files_are_refused_without_blocking_or_reading(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")  # a file that never ends
    (tmp_path / "dir").mkdir()
    signal.alarm(30)  # a FIFO that blocked would hang here: the alarm ends the process instead
    try:
        for name, kind in (("fifo", "a FIFO"), ("zero", "a character device"), ("dir", "a directory")):
            with pytest.raises(OSError, match=f"is {kind}, not a regular file") as exc:
                files.read_regular(tmp_path / name, 1 << 30)
            assert exc.value.filename == str(tmp_path / name)
    finally:
        signal.alarm(0)


def test_read_json(tmp_path):
    (tmp_path / "a.json").write_text('{"x": [1, 2]}')
    assert files.read_json(tmp_path / "a.json") == {"x": [1, 2]}
    for text in ("{not json", "[" * 100_000, "\xff"):
        (tmp_path / "b.json").write_bytes(text.encode("latin-1"))
        with pytest.raises(ValueError):
            files.read_json(tmp_path / "b.json")
    with pytest.raises(files.FileTooLong):
        files.read_json(tmp_path / "a.json", limit=4)
