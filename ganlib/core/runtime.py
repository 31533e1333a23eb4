"""Device choice, seeds and thread counts: one place so every stage is reproducible."""
from __future__ import annotations

import os
import random
import sys

import numpy as np
import torch
from tqdm.std import tqdm


def device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def setup(seed: int, threads: int = 2) -> torch.device:
    """Seed Python, NumPy and torch, fix torch's CPU thread count, return the device."""
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    return device()


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 tensor (N, H, W, C) in 0..255 -> float (N, C, H, W) in [-1, 1], on x's device. Training
    keeps its images as uint8 (a quarter of float32's memory) and converts each batch with this."""
    return x.permute(0, 3, 1, 2).float() / 127.5 - 1.0


def to_tensor(images: np.ndarray, dev: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 array (N, H, W, C) in 0..255 -> float tensor (N, C, H, W) in [-1, 1] on ``dev``."""
    return to_float(torch.tensor(images).to(dev))


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (N, C, H, W) in [-1, 1] -> uint8 (N, H, W, C), rounded to nearest."""
    x = ((x.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round()
    return x.to(torch.uint8).permute(0, 2, 3, 1).numpy()


_TERMINAL: dict[str, object] = {}


def terminal():
    """A text stream on the process's real terminal (its original stderr), or None if it has none.

    In a Jupyter kernel (papermill runs the notebooks in one), ``sys.stderr`` is ipykernel's
    ``OutStream``: what it receives becomes a stderr output of the notebook. With
    ``capture_fd_output`` (ipykernel's default) even file descriptor 2 is redirected into the
    notebook; ipykernel keeps a duplicate of the original descriptor as
    ``sys.stderr._original_stdstream_copy``, and this returns a stream on a copy of that, so what
    is written here reaches the terminal (make's log) and never the notebook. Without fd capture,
    ``sys.__stderr__`` is still the terminal. Outside a kernel it is ``sys.stderr``.
    """
    err = sys.stderr
    fd = getattr(err, "_original_stdstream_copy", None)
    if fd is not None:
        if _TERMINAL.get("fd") != fd:
            _TERMINAL.update(fd=fd, stream=open(os.dup(fd), "w", buffering=1, encoding="utf-8",  # noqa: SIM115
                                                errors="replace", closefd=True))
        return _TERMINAL["stream"]
    if type(err).__module__.startswith("ipykernel"):
        return sys.__stderr__
    return err


def progress(iterable=None, desc: str = "", disable: bool = False, **kwargs):
    """A progress bar for long loops, shown on the terminal only.

    ``tqdm`` (its plain text bar, never ``tqdm.auto``) over ``iterable`` (or ``None`` with
    ``total=`` for manual ``update()``), at most one update every 2 s unless ``mininterval`` is
    given. The bar goes to :func:`terminal`: in a notebook run by papermill it is printed on
    make's terminal and the executed notebook keeps no progress-bar output; at a shell it is
    stderr as usual. Disabled (a plain pass-through) when there is no terminal.
    """

    stream = terminal()
    kwargs.setdefault("mininterval", 2)
    return tqdm(iterable, desc=desc, disable=disable or stream is None, file=stream, **kwargs)
