"""Generator checkpoints: safetensors weights + JSON config, loaded without unpickling code, and the
generator's fingerprint that every latent file carries.

Model files are read as a careless or hostile user may give them: only regular files, with a
bound (:data:`ganlib.core.files.MAX_JSON_BYTES` for the JSON, the size of the network the JSON
describes for the weights); a network of more than :data:`MAX_PARAMETERS` parameters is refused,
and the weights' names and shapes (the safetensors header) are checked against the network before
any of it is built or allocated (:func:`read_weights`).
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load, save_file
from torch import nn

from ganlib.core import files, params, paths
from ganlib.models.nets import GanConfig, Generator

MESSAGE_LIMIT = 300  # characters of a loader's error quoted in a CheckpointError
MAX_PARAMETERS = 10**8  # the largest network a model file may describe (400 MB of float32; the gpu profile's G: 3.8 M)
HEADER_ROOM = 1 << 20  # room for a safetensors header (8 bytes of length, then JSON) beyond the tensors' bytes


def fingerprint(G: nn.Module) -> bytes:
    """4-byte digest of the generator's weights (SHA-256 over names and float32 values)."""
    h = hashlib.sha256()
    for name, tensor in sorted(G.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.digest()[:4]


def save_generator(run: str | Path, G: Generator, extra: dict | None = None) -> Path:
    """Write ``generator.json`` then ``generator.safetensors`` into ``run``, each atomically.
    The weights file is written last: its presence marks a complete checkpoint."""
    run = paths.RunDir(run)
    state = {k: v.detach().cpu().contiguous() for k, v in G.state_dict().items()}
    meta = {"config": G.config.to_dict(), "fingerprint": fingerprint(G).hex(), **(extra or {})}
    files.write_text(run.generator_config, json.dumps(meta, indent=2))
    with files.atomic_path(run.generator) as tmp:
        save_file(state, str(tmp), metadata={"config": json.dumps(G.config.to_dict())})
    return run.generator


class CheckpointError(ValueError):
    """A generator checkpoint cannot be loaded; the message names the file and what is wrong."""


def _missing_hint(run: Path) -> str:
    """Which command writes ``run``'s generator: ``make train PROFILE=<p>`` only for runs/<p>."""
    runs = Path(os.path.realpath(run)).parent  # realpath: a loop of links is no error here
    if runs == (paths.work_dir() / "runs").resolve() and paths.profile_path(run.name).is_file():
        return f"it is written by notebooks/02_train_gan.ipynb (make train PROFILE={run.name})"
    if runs.name == "runs" and paths.profile_path(run.name).is_file():
        return (f"it is written by notebooks/02_train_gan.ipynb "
                f"(make train PROFILE={run.name} WORKDIR={runs.parent})")
    return ("it is written by notebooks/02_train_gan.ipynb into runs/<profile>/ (make train PROFILE=<profile>); "
            "give a run directory that holds one")


def read_meta(path: Path, what: str) -> tuple[dict, GanConfig]:
    """(the JSON object, its network config) of a model's JSON file (``what``: "generator" or
    "encoder"), read with :func:`ganlib.core.files.read_json`; :class:`CheckpointError` naming it otherwise."""
    try:
        meta = files.read_json(path)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable JSON file ({params.one_line(exc, MESSAGE_LIMIT)})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{path}: no 'config' object (the {what}'s latent_dim, width, image_size, "
                              f"channels); is it a {path.name} written by this project?")
    try:
        return meta, GanConfig(**meta["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid {what} config ({params.one_line(exc, MESSAGE_LIMIT)})") from None


def read_weights(path: Path, make: Callable[[], nn.Module], described_by: Path, what: str
                 ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of the safetensors file ``path`` holding the weights of the network ``make()``
    builds, which ``described_by`` (its JSON) describes. The network is built on the meta device
    (nothing allocated) and refused above :data:`MAX_PARAMETERS`; the file is read only if it is a
    regular file no longer than the network's tensors and a header, and its header's names and
    shapes must be the network's before any tensor is made. :class:`CheckpointError` naming the files."""
    with torch.device("meta"):
        expected = make().state_dict()
    count = sum(t.numel() for t in expected.values())
    if count > MAX_PARAMETERS:
        raise CheckpointError(f"{described_by}: describes a {what} of {count:,} parameters; at most "
                              f"{MAX_PARAMETERS:,} are allowed")
    mismatch = f"{path} does not match the {what} described by {described_by}"
    try:
        data = files.read_regular(path, sum(t.numel() * t.element_size() for t in expected.values()) + HEADER_ROOM)
        (length,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + length])
        metadata = dict(header.pop("__metadata__", None) or {})
        shapes = {name: tuple(entry["shape"]) for name, entry in header.items()}
    except files.FileTooLong as exc:
        raise CheckpointError(f"{mismatch} ({exc.strerror} for that {what})") from None
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError, struct.error) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({params.one_line(exc, MESSAGE_LIMIT)})"
                              ) from None
    differences = ([f"missing tensor {n}" for n in expected if n not in shapes]
                   + [f"unexpected tensor {n}" for n in shapes if n not in expected]
                   + [f"size mismatch for {n}: {list(shapes[n])} in the file, {list(t.shape)} in the config"
                      for n, t in expected.items() if n in shapes and shapes[n] != tuple(t.shape)])
    if differences:
        more = f"; {len(differences) - 3} more" if len(differences) > 3 else ""
        raise CheckpointError(f"{mismatch} ({'; '.join(differences[:3])}{more})")
    try:
        return load(data), metadata
    except Exception as exc:  # noqa: BLE001 - safetensors raises SafetensorError, ...
        raise CheckpointError(f"{path}: not a readable safetensors file ({params.one_line(exc, MESSAGE_LIMIT)})"
                              ) from None


def load_generator(run: str | Path, device: torch.device | str = "cpu") -> Generator:
    """Load the generator of a run directory (safetensors: no code is unpickled), in eval mode.
    ``FileNotFoundError`` if the run has no checkpoint (naming what writes one);
    :class:`CheckpointError` (a ``ValueError``) naming the file if it is not a valid checkpoint,
    checked before the generator is built (:func:`read_weights`)."""
    run = Path(run)
    weights, config_path = paths.RunDir(run).generator, paths.RunDir(run).generator_config
    if not weights.exists():
        raise FileNotFoundError(f"{weights} is missing: {_missing_hint(run)}")
    if not config_path.exists():
        raise FileNotFoundError(f"{config_path} is missing: it is written with {weights.name} by "
                                "notebooks/02_train_gan.ipynb")
    _, config = read_meta(config_path, "generator")
    state, _ = read_weights(weights, lambda: Generator(config), config_path, "generator")
    G = Generator(config)
    try:
        G.load_state_dict(state)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{weights} does not match the generator described by {config_path} "
                              f"({params.one_line(exc, MESSAGE_LIMIT)})") from None
    return G.to(device).eval()
