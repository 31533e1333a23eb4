"""Atomic file writes, and bounded reads of files a user gives.

Writes: a temp file in the target's directory, then ``os.replace``. An interrupted stage
therefore never leaves a half-written file under the final name, where a later stage (or make)
would take it as complete. The file gets the usual permissions of a new file (0666 less the
umask, as ``open`` gives), not ``mkstemp``'s 0600.

Reads (:func:`read_regular`): only regular files, checked on the opened descriptor (a FIFO,
device or directory is refused without blocking or reading), and at most a given number of bytes.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path


def umask() -> int:
    """The process's current umask (read without changing it where Linux allows)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path`` with the
    permissions a new file gets (0666 less the umask). The temporary name is short whatever
    the target's, so any name the file system allows can be written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if len(path.suffix) <= 16 else ""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:32]}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_csv(path: str | os.PathLike, frame) -> None:
    """Write a pandas DataFrame as CSV (no index) atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


MAX_JSON_BYTES = 1 << 22  # 4 MiB: a model's JSON file (generator.json, encoder.json, prior.json) is at most ~250 KB
KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device",
         stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


class FileTooLong(OSError):
    """A file longer than its reader allows (``errno.EFBIG``); ``size`` is its length in bytes."""

    def __init__(self, path, size: int, limit: int):
        super().__init__(errno.EFBIG, f"{size:,} bytes, longer than the {limit:,} bytes allowed", os.fspath(path))
        self.size, self.limit = size, limit


def _regular(path, mode: int) -> None:
    """Refuse (``OSError`` naming ``path``: ``EISDIR`` or ``EINVAL``) a file mode that is not a regular file's."""
    if not stat.S_ISREG(mode):
        kind = KINDS.get(stat.S_IFMT(mode))
        raise OSError(errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL,
                      f"is {kind}, not a regular file" if kind else "not a regular file", os.fspath(path))


def read_regular(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file (after symbolic links) of at most ``limit``
    bytes. A FIFO, a device or a directory is refused (``OSError``) without waiting or reading:
    the name is checked before it is opened (no device is opened), then the descriptor, opened
    non-blocking, with ``os.fstat`` (what the name pointed to may have changed in between). A
    longer file raises :class:`FileTooLong` unread."""
    _regular(path, os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    with open(fd, "rb", closefd=True) as f:
        st = os.fstat(fd)
        _regular(path, st.st_mode)
        data = f.read(limit + 1) if st.st_size <= limit else b""
        if st.st_size > limit or len(data) > limit:  # longer than it said: it grew
            raise FileTooLong(path, max(st.st_size, len(data)), limit)
    return data


def read_json(path: str | os.PathLike, limit: int = MAX_JSON_BYTES):
    """The JSON document in regular file ``path`` (:func:`read_regular`); ``OSError`` if it cannot
    be read, ``ValueError`` (without the file's name) if it is not JSON."""
    data = read_regular(path, limit)
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply") from None
