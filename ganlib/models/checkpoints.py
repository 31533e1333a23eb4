"""Generator checkpoints: safetensors weights + JSON config, loaded without unpickling code, and the
generator's fingerprint that every latent file carries."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ganlib.core import files, params, paths
from ganlib.models.nets import GanConfig, Generator

MESSAGE_LIMIT = 300  # characters of a loader's error quoted in a CheckpointError


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
    runs = run.resolve().parent
    if runs == (paths.work_dir() / "runs").resolve() and paths.profile_path(run.name).is_file():
        return f"it is written by notebooks/02_train_gan.ipynb (make train PROFILE={run.name})"
    if runs.name == "runs" and paths.profile_path(run.name).is_file():
        return (f"it is written by notebooks/02_train_gan.ipynb "
                f"(make train PROFILE={run.name} WORKDIR={runs.parent})")
    return ("it is written by notebooks/02_train_gan.ipynb into runs/<profile>/ (make train PROFILE=<profile>); "
            "give a run directory that holds one")


def load_generator(run: str | Path, device: torch.device | str = "cpu") -> Generator:
    """Load the generator of a run directory (safetensors: no code is unpickled), in eval mode.
    ``FileNotFoundError`` if the run has no checkpoint (naming what writes one);
    :class:`CheckpointError` (a ``ValueError``) naming the file if it is not a valid checkpoint."""
    run = Path(run)
    weights, config_path = paths.RunDir(run).generator, paths.RunDir(run).generator_config
    if not weights.exists():
        raise FileNotFoundError(f"{weights} is missing: {_missing_hint(run)}")
    if not config_path.exists():
        raise FileNotFoundError(f"{config_path} is missing: it is written with {weights.name} by "
                                "notebooks/02_train_gan.ipynb")
    try:
        meta = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{config_path}: not a readable JSON file "
                              f"({params.one_line(exc, MESSAGE_LIMIT)})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{config_path}: no 'config' object (the generator's latent_dim, width, image_size, "
                              "channels); is it a generator.json written by 02_train_gan?")
    try:
        config = GanConfig(**meta["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{config_path}: invalid generator config "
                              f"({params.one_line(exc, MESSAGE_LIMIT)})") from None
    try:
        state = load_file(str(weights))
    except Exception as exc:  # noqa: BLE001 - safetensors raises SafetensorError, OSError, ...
        raise CheckpointError(f"{weights}: not a readable safetensors file "
                              f"({params.one_line(exc, MESSAGE_LIMIT)})") from None
    G = Generator(config)
    try:
        G.load_state_dict(state)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{weights} does not match the generator described by {config_path} "
                              f"({params.one_line(exc, MESSAGE_LIMIT)})") from None
    return G.to(device).eval()
