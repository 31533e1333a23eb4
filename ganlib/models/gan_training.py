"""GAN training: the adversarial loop, in one process or under torchrun, and the training stage's
outputs (history, then the checkpoint of :mod:`ganlib.models.checkpoints`)."""
from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from ganlib.core import distributed, files, params, paths, runtime
from ganlib.data import datasets
from ganlib.models import checkpoints
from ganlib.models.nets import Discriminator, GanConfig, Generator, init_weights


def check_params(steps: int, batch_size: int, lr: float) -> None:
    params.steps("steps", steps)
    params.int_range("batch_size", batch_size, 1, 65536)
    params.positive("lr", lr)


def mixed_precision_dtype(dev: torch.device, mixed_precision: bool = True) -> torch.dtype | None:
    """The autocast dtype of training on ``dev``: bfloat16 on a CUDA GPU that has it, float16 (with
    a GradScaler) on an older one, None (float32) on the CPU or when ``mixed_precision`` is off."""
    if not mixed_precision or dev.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def train_gan(images: np.ndarray, config: GanConfig, steps: int, batch_size: int, lr: float,
              seed: int, n_snapshots: int = 4, progress: bool = True, mixed_precision: bool = True
              ) -> tuple[Generator, dict]:
    """Train a DCGAN (non-saturating loss, Adam(lr, 0.5, 0.999)) on uint8 (N, H, W, C) images.

    Returns the generator (eval mode, on the CPU) and a history dict with per-step
    ``d_loss``/``g_loss``, ``snapshots`` (list of (step, uint8 (16, H, W, C))) from fixed
    noise, and ``seconds``.

    Under torchrun with several processes (:mod:`ganlib.core.distributed`; call ``distributed.init()``
    first) G and D are each wrapped in DistributedDataParallel with batch norm over the global batch
    (:func:`ganlib.core.distributed.sync_batchnorm`). Every rank draws the same global batch of
    ``batch_size`` indices and latents from the shared seeded generator, as one process does, and
    uses its own slice of it (``batch_size`` must divide by the number of processes): the run is
    the single-process run with its work split, up to rounding. The losses in the history are the
    global batch's (averaged over processes); snapshots are made on rank 0 only. On a CUDA GPU,
    ``mixed_precision`` trains under autocast (:func:`mixed_precision_dtype`); the CPU trains in
    float32 as before.
    """
    check_params(steps, batch_size, lr)
    world, rank = (distributed.world_size(), distributed.rank()) if distributed.active() else (1, 0)
    if batch_size % world:
        raise ValueError(f"batch_size={batch_size!r} is not allowed with {world} processes; "
                         f"it must be a multiple of {world} (each process takes an equal share)")
    dev = runtime.setup(seed, threads=max(1, 2 // distributed.local_world_size()) if world > 1 else 2)
    if world > 1:
        dev = distributed.device()
    gen = torch.Generator(device="cpu").manual_seed(seed)
    data = torch.from_numpy(np.ascontiguousarray(images)).to(dev)  # uint8: a quarter of float32's memory
    G, D = Generator(config).to(dev), Discriminator(config).to(dev)
    G.apply(init_weights)
    D.apply(init_weights)
    G_train, D_train = G, D
    if world > 1:

        torch.manual_seed(distributed.rank_seed(seed))  # this rank's own draws (none in this loop today)
        ids = [dev.index] if dev.type == "cuda" else None
        G_train = DDP(distributed.sync_batchnorm(G), device_ids=ids, broadcast_buffers=False)
        D_train = DDP(distributed.sync_batchnorm(D), device_ids=ids, broadcast_buffers=False)
    amp = mixed_precision_dtype(dev, mixed_precision)
    autocast = (lambda: torch.autocast("cuda", dtype=amp)) if amp is not None else contextlib.nullcontext
    scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    fixed = torch.randn(16, config.latent_dim, generator=gen).to(dev)
    snap_at = set(np.linspace(0, steps, n_snapshots + 1).astype(int)[1:]) if n_snapshots else set()
    hist: dict = {"d_loss": [], "g_loss": [], "snapshots": []}
    local = slice(rank * batch_size // world, (rank + 1) * batch_size // world)
    ones = torch.ones(batch_size // world, device=dev)
    zeros = torch.zeros(batch_size // world, device=dev)
    start = time.perf_counter()
    bar = runtime.progress(range(1, steps + 1), desc="train GAN", disable=not progress or rank != 0)
    for step in bar:
        idx = torch.randint(len(data), (batch_size,), generator=gen)
        z = torch.randn(batch_size, config.latent_dim, generator=gen)
        real = runtime.to_float(data[idx[local].to(dev)])
        z = z[local].to(dev)
        with autocast():
            fake = G_train(z)
            d_loss = bce(D_train(real), ones) + bce(D_train(fake.detach()), zeros)
        opt_d.zero_grad(set_to_none=True)
        scaler.scale(d_loss).backward()
        scaler.step(opt_d)
        with autocast(), (D_train.no_sync() if world > 1 else contextlib.nullcontext()):
            g_loss = bce(D_train(fake), ones)  # D's gradients here are discarded: not synchronised
        opt_g.zero_grad(set_to_none=True)
        scaler.scale(g_loss).backward()
        scaler.step(opt_g)
        scaler.update()
        hist["d_loss"].append(d_loss.item())
        hist["g_loss"].append(g_loss.item())
        if step in snap_at and rank == 0:
            G.eval()
            with torch.no_grad():
                hist["snapshots"].append((step, runtime.to_uint8(G(fixed))))
            G.train()
    hist["seconds"] = time.perf_counter() - start
    if world > 1:  # the global batch's losses: the mean of the processes' (equal shares)
        losses = distributed.mean(torch.tensor([hist["d_loss"], hist["g_loss"]], dtype=torch.float64))
        hist["d_loss"], hist["g_loss"] = losses[0].tolist(), losses[1].tolist()
        hist["processes"] = world
        G = unwrap_batchnorm(G)
    return G.cpu().eval(), hist


def unwrap_batchnorm(G: Generator) -> Generator:
    """A plain :class:`Generator` (nn.BatchNorm) with ``G``'s weights and statistics, on the CPU."""
    plain = Generator(G.config)
    plain.load_state_dict({k: v.detach().cpu() for k, v in G.state_dict().items()})
    return plain


# ---------------------------------------------------------------- the training stage, in one process or under torchrun
def save_history(run: str | Path, hist: dict) -> Path:
    """Write the training history (losses, snapshots, seconds) to ``run/train_history.npz``, atomically."""
    snaps = hist["snapshots"]
    arrays = {"d_loss": np.asarray(hist["d_loss"], np.float64), "g_loss": np.asarray(hist["g_loss"], np.float64),
              "snapshot_steps": np.asarray([s for s, _ in snaps], np.int64),
              "snapshots": np.stack([im for _, im in snaps]) if snaps else np.zeros((0,), np.uint8),
              "seconds": np.float64(hist["seconds"]), "processes": np.int64(hist.get("processes", 1))}
    with files.atomic_path(paths.RunDir(run).train_history) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return paths.RunDir(run).train_history


def load_history(run: str | Path) -> dict:
    """The history :func:`save_history` wrote, as :func:`train_gan` returns it."""
    with np.load(paths.RunDir(run).train_history) as npz:
        return {"d_loss": npz["d_loss"].tolist(), "g_loss": npz["g_loss"].tolist(),
                "snapshots": list(zip(npz["snapshot_steps"].tolist(), npz["snapshots"]))
                if len(npz["snapshot_steps"]) else [],
                "seconds": float(npz["seconds"]), "processes": int(npz["processes"])}


def save_stage(run: str | Path, G: Generator, hist: dict, steps: int, batch_size: int, lr: float, seed: int) -> None:
    """The training stage's outputs: the history, then the checkpoint (weights last, marking completion)."""
    save_history(run, hist)
    checkpoints.save_generator(run, G, extra={"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed,
                                  "seconds": round(hist["seconds"], 1), "processes": hist.get("processes", 1),
                                  "generator_parameters": sum(p.numel() for p in G.parameters())})


TORCHRUN_ENV = "GANLIB_TORCHRUN"  # torchrun's arguments instead of --standalone --nproc-per-node N (several nodes)


def torchrun_command(profile: str, config: GanConfig, steps: int, batch_size: int, lr: float, seed: int,
                     processes: int, mixed_precision: bool = True) -> list[str]:
    """The command that trains ``profile``'s GAN under torchrun: ``torchrun --standalone
    --nproc-per-node <processes>`` on this machine, or the arguments in ``$GANLIB_TORCHRUN`` (e.g.
    ``--nnodes 2 --node-rank 0 --rdzv-backend c10d --rdzv-endpoint host:29500 --nproc-per-node 8``)."""

    launcher = shlex.split(os.environ.get(TORCHRUN_ENV, "")) or ["--standalone", "--nproc-per-node", str(processes)]
    return [sys.executable, "-m", "torch.distributed.run", *launcher, "-m", "ganlib.models.gan_training",
            "--profile", profile,
            "--latent-dim", str(config.latent_dim), "--width", str(config.width), "--steps", str(steps),
            "--batch-size", str(batch_size), "--lr", repr(lr), "--seed", str(seed),
            *([] if mixed_precision else ["--no-mixed-precision"])]


def run_stage(profile: str, images: np.ndarray, config: GanConfig, steps: int, batch_size: int, lr: float, seed: int,
              processes: int = 1, mixed_precision: bool = True) -> tuple[Generator, dict]:
    """The training stage of 02: train ``profile``'s GAN and write its checkpoint and history into
    ``runs/<profile>/``. ``processes`` 1 trains here; more start ``torchrun`` (:func:`torchrun_command`,
    ``python -m ganlib.models.gan_training`` in each process, rank 0 writing), then read what rank 0 wrote, so the
    caller gets the same (generator, history) either way."""
    params.int_range("processes", processes, 1, 4096)
    run = paths.run_dir(profile)
    if processes == 1 and not os.environ.get(TORCHRUN_ENV):
        G, hist = train_gan(images, config, steps, batch_size, lr, seed, mixed_precision=mixed_precision)
        save_stage(run, G, hist, steps, batch_size, lr, seed)
        return G, hist

    if batch_size % processes:
        raise ValueError(f"batch_size={batch_size!r} is not allowed with processes={processes}; "
                         "it must be a multiple of it")
    started = time.time()
    term = runtime.terminal()
    out = term if term is not None and hasattr(term, "fileno") else None
    cmd = torchrun_command(profile, config, steps, batch_size, lr, seed, processes, mixed_precision)
    print("torchrun", " ".join(cmd[3:]))  # what every node runs (its own rendezvous arguments for others)
    status = subprocess.run(cmd, stdout=out, stderr=out, env={**os.environ, "GANLIB_WORKDIR": str(paths.work_dir())})
    weights = run.generator
    if status.returncode != 0 or not weights.exists() or weights.stat().st_mtime < started - 1:
        raise RuntimeError(f"training under torchrun failed (exit status {status.returncode}); its log is on the "
                           f"terminal. Command: {' '.join(cmd)}")
    return checkpoints.load_generator(run), load_history(run)


def main(argv: list[str] | None = None) -> int:
    """``python -m ganlib.models.gan_training --profile P ...``: train P's GAN on ``runs/P/data.npz`` in this
    process, or as one of torchrun's processes; rank 0 writes the checkpoint and history."""


    p = argparse.ArgumentParser(prog="python -m ganlib.models.gan_training",
                                description=main.__doc__.split(":", 1)[1].strip())
    p.add_argument("--profile", required=True)
    p.add_argument("--latent-dim", type=int, required=True)
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--snapshots", type=int, default=4)
    p.add_argument("--no-mixed-precision", action="store_true")
    args = p.parse_args(argv)
    images = datasets.load_prepared(args.profile)["train"]
    config = GanConfig(latent_dim=args.latent_dim, width=args.width, image_size=images.shape[1],
                       channels=images.shape[3])
    with distributed.group():
        G, hist = train_gan(images, config, args.steps, args.batch_size, args.lr, args.seed, args.snapshots,
                            mixed_precision=not args.no_mixed_precision)
        distributed.on_main(save_stage, paths.run_dir(args.profile), G, hist, args.steps, args.batch_size, args.lr,
                            args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
