"""Learned-codec baselines: CompressAI's factorized-prior model (Ballé et al. 2017) and its
scale-hyperprior model (Ballé et al. 2018), trained on the same training split as the GAN at a
rate-distortion trade-off ``lam``, scored on the byte strings of their real ``compress()``.

Images are uint8 (H, W, C); the models see them in [0, 1], padded (edge replicate) to a
multiple of :func:`multiple` pixels, and crop their output back. The analysis transform g_a
halves the image ``down`` times (CompressAI's models: 4; here 2 by default: a 28-pixel image
then has a 7 x 7 latent, not 2 x 2, which measured on the default run is what lets the models
reach high quality at high rates); its last ``4 - down`` convolutions keep the size, and g_s
mirrors it. The hyperprior's transforms h_a and h_s downsample once rather than twice.
"""
from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import shutil
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ganlib.core import files, params, paths, runtime
from ganlib.models.losses import ssim_parts

with warnings.catch_warnings():  # CompressAI 1.2.8 calls torch.jit.script, deprecated in torch 2.14,
    warnings.filterwarnings("ignore", message=".*torch.jit.script", category=FutureWarning)
    # and imports torch_geometric, which imports tqdm.auto: in a kernel without ipywidgets that
    # warns "IProgress not found" (a TqdmWarning); this project's bars go to the terminal anyway
    warnings.filterwarnings("ignore", message="IProgress not found")
    import compressai
    from compressai.entropy_models import GaussianConditional as _GaussianConditional
    from compressai.models import CompressionModel, FactorizedPrior, ScaleHyperprior
    from compressai.models.utils import conv, deconv

COMPRESSAI_VERSION = compressai.__version__
MODELS = ("factorized", "hyperprior")  # the baseline models
KINDS = (*MODELS, "conditional")  # every model, with the residual layer's (ConditionalPrior)
DOWN = 2  # default number of stride-2 stages of g_a
DISTORTIONS = ("mse", "ssim")  # what the rate-distortion loss weighs against the rate


def family_id(model: str, distortion: str = "mse") -> str:
    """The codec family of a baseline model trained for ``distortion``: ``factorized`` (MSE, as
    CompressAI's defaults) or ``factorized_ssim``."""
    params.choice("distortion", distortion, DISTORTIONS)
    return model if distortion == "mse" else f"{model}_{distortion}"


FAMILIES = tuple(family_id(m, d) for d in DISTORTIONS for m in MODELS)  # every baseline family


def parse_family(family: str) -> tuple[str, str]:
    """(model, distortion) of a family id of :data:`FAMILIES` (ValueError listing them otherwise)."""
    params.choice("learned model", family, FAMILIES)
    model, _, distortion = family.partition("_")
    return model, distortion or "mse"


def multiple(model: str, down: int = DOWN) -> int:
    """The multiple of the input size that ``model`` with ``down`` stride-2 stages needs."""
    return 2 ** (down + (model == "hyperprior"))


class GaussianConditional(_GaussianConditional):
    """CompressAI's Gaussian conditional entropy model, coding the same bytes faster. CompressAI's
    ``compress`` and ``decompress`` hand the whole CDF table (64 scales x up to ~3,000 entries) to
    the range coder again for every image, as Python lists; here the table is listed once per call,
    and each image's coder gets only the rows its symbols use (renumbered), each cut to its length:
    the coder reads nothing else, so the bytes are CompressAI's (tests/models/test_learned.py)."""

    def _tables(self) -> tuple[list, list, list]:
        lengths = self._cdf_length.reshape(-1).int().tolist()
        rows = [row[:n] for row, n in zip(self._quantized_cdf.tolist(), lengths)]
        return rows, lengths, self._offset.reshape(-1).int().tolist()

    @staticmethod
    def _subset(tables: tuple[list, list, list], indexes: list[int]) -> tuple[list[int], list, list, list]:
        used = sorted(set(indexes))
        local = dict(zip(used, range(len(used))))
        return [local[i] for i in indexes], *([table[u] for u in used] for table in tables)

    def compress(self, inputs: torch.Tensor, indexes: torch.Tensor, means: torch.Tensor | None = None) -> list[bytes]:
        if inputs.size() != indexes.size():
            raise ValueError("`inputs` and `indexes` should have the same size.")
        symbols = self.quantize(inputs, "symbols", means).reshape(len(inputs), -1).int().tolist()
        tables = self._tables()
        return [self.entropy_coder.encode_with_indexes(s, *self._subset(tables, i))
                for s, i in zip(symbols, indexes.reshape(len(indexes), -1).int().tolist())]

    def decompress(self, strings: list[bytes], indexes: torch.Tensor, dtype: torch.dtype = torch.float,
                   means: torch.Tensor | None = None) -> torch.Tensor:
        if len(strings) != indexes.size(0):
            raise ValueError("Invalid strings or indexes parameters")
        tables = self._tables()
        values = [self.entropy_coder.decode_with_indexes(s, *self._subset(tables, i))
                  for s, i in zip(strings, indexes.reshape(len(indexes), -1).int().tolist())]
        outputs = torch.tensor(values, dtype=self._quantized_cdf.dtype).reshape(indexes.size())
        return self.dequantize(outputs, means, dtype)


def _set_down(net: CompressionModel, n: int, m: int, down: int) -> None:
    """Make g_a halve the image ``down`` times (its last 4 - down convolutions stride 1), g_s mirror it."""
    params.int_range("down", down, 1, 4)
    for i in range(down, 4):  # convolutions 0..3 sit at g_a[0, 2, 4, 6] and g_s[6, 4, 2, 0]
        out = m if i == 3 else n
        net.g_a[2 * i] = conv(net.g_a[2 * i].in_channels, out, stride=1)
        net.g_s[6 - 2 * i] = deconv(out, net.g_s[6 - 2 * i].out_channels, stride=1)
    net.down = down


class ConditionalPrior(FactorizedPrior):
    """The factorized prior coding an image x given a base image b that the decoder already has
    (GAN reversal's G(z), :mod:`ganlib.codecs.residual`); x, b: (B, C, H, W) in [0, 1]. The analysis
    transform sees both, y = g_a(x, b): (B, m, H/2^down, W/2^down); the synthesis transform's features
    and b make a correction added to b: x_hat = b + f(g_s(y_hat), b)."""

    def __init__(self, channels: int = 1, n: int = 32, m: int = 64, down: int = DOWN):
        super().__init__(n, m)
        self.g_a[0] = conv(2 * channels, n)  # (B, 2C, H, W) -> (B, n, H/2, W/2) ... (B, m, H/2^down, W/2^down)
        self.g_s[-1] = deconv(n, n)  # -> (B, n, H, W) features
        _set_down(self, n, m, down)
        self.fuse = torch.nn.Sequential(conv(n + channels, n, stride=1, kernel_size=3), torch.nn.ReLU(inplace=True),
                                        conv(n, channels, stride=1, kernel_size=3))

    def reconstruct(self, y_hat: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        return base + self.fuse(torch.cat([self.g_s(y_hat), base], 1))

    def forward(self, x: torch.Tensor, base: torch.Tensor) -> dict:
        y_hat, likelihoods = self.entropy_bottleneck(self.g_a(torch.cat([x, base], 1)))
        return {"x_hat": self.reconstruct(y_hat, base), "likelihoods": {"y": likelihoods}}

    def compress(self, x: torch.Tensor, base: torch.Tensor) -> dict:
        y = self.g_a(torch.cat([x, base], 1))
        return {"strings": [self.entropy_bottleneck.compress(y)], "shape": y.shape[-2:]}

    def decompress(self, strings: list, shape, base: torch.Tensor) -> dict:
        y_hat = self.entropy_bottleneck.decompress(strings[0], shape)
        return {"x_hat": self.reconstruct(y_hat, base).clamp(0, 1)}


def build(channels: int = 1, n: int = 64, m: int = 96, model: str = "factorized", down: int = DOWN
          ) -> CompressionModel:
    """A CompressAI model with ``channels`` input/output channels (CompressAI's are RGB only) and
    ``down`` stride-2 stages."""
    params.choice("model", model, KINDS)
    if model == "conditional":
        return ConditionalPrior(channels, n, m, down)
    if model == "factorized":
        net = FactorizedPrior(n, m)
    else:
        net = ScaleHyperprior(n, m)
        net.gaussian_conditional = GaussianConditional(None)
        net.h_a = torch.nn.Sequential(conv(m, n, stride=1, kernel_size=3), torch.nn.ReLU(inplace=True), conv(n, n))
        net.h_s = torch.nn.Sequential(deconv(n, n), torch.nn.ReLU(inplace=True), conv(n, m, stride=1, kernel_size=3),
                                      torch.nn.ReLU(inplace=True))
    net.g_a[0] = conv(channels, n)
    net.g_s[-1] = deconv(n, channels)
    _set_down(net, n, m, down)
    return net


def kind(model: CompressionModel) -> str:
    """The model's name, one of KINDS."""
    if isinstance(model, ConditionalPrior):
        return "conditional"
    return "hyperprior" if isinstance(model, ScaleHyperprior) else "factorized"


def pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    return torch.nn.functional.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="replicate")


def crop(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
    return x[..., top:top + h, left:left + w]


def to_unit(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W) in [0, 1]."""
    return (runtime.to_tensor(images) + 1) / 2


def train_learned(images: np.ndarray, lam: float, steps: int, batch_size: int = 32, lr: float = 1e-3,
                  seed: int = 0, n: int = 64, m: int = 96, model: str = "factorized",
                  progress: bool = True, bases: np.ndarray | None = None, down: int = DOWN, threads: int = 2,
                  distortion: str = "mse", snapshots: Sequence[int] = (), init: str | None = None
                  ) -> tuple[CompressionModel, dict]:
    """Minimise CompressAI's rate-distortion loss with Adam (cosine-decayed learning rate), plus
    the entropy bottleneck's auxiliary loss: lam * 255^2 * MSE + bits per pixel, or with
    ``distortion="ssim"`` lam * (1 - SSIM) + bits per pixel (SSIM as the report scores it:
    :func:`ganlib.models.losses.ssim_parts`, as CompressAI trains its MS-SSIM models). ``bases``
    (uint8, the shape of ``images``): the base image of each image, for the ``conditional`` model
    only. ``init``: a file of :func:`save` whose weights the model starts from (fine-tuning, as
    CompressAI's MS-SSIM models start from its MSE models: trained from scratch for SSIM, these
    small models collapse to empty files at low λ). Returns the model (eval, CDFs updated) and a
    history with per-step ``loss``, ``bpp``, ``mse`` and ``seconds``, and ``snapshots``: the state
    dict (CDFs not updated) after each step count of ``snapshots``, by step count."""
    params.positive("lam", lam)
    params.steps("steps", steps)
    params.choice("model", model, KINDS)
    params.choice("distortion", distortion, DISTORTIONS)
    keep = set(params.int_list("snapshots", list(snapshots), 1, steps)) if len(snapshots) else set()
    if (model == "conditional") != (bases is not None) or (bases is not None and bases.shape != images.shape):
        raise ValueError(f"bases: the conditional model needs one base image per image ({images.shape}), "
                         f"the others none; got {None if bases is None else bases.shape} for model {model!r}")
    desc = f"train {model} (lambda {lam})"
    dev = runtime.setup(seed, threads)
    gen = torch.Generator().manual_seed(seed)
    data = pad(to_unit(images), multiple(model, down)).to(dev)
    cond = None if bases is None else pad(to_unit(bases), multiple(model, down)).to(dev)
    model = build(images.shape[3], n, m, model, down)
    if init is not None:
        model.load_state_dict(load_file(init))
    model = model.to(dev).train()
    main = [p for name, p in model.named_parameters() if not name.endswith(".quantiles")]
    aux = [p for name, p in model.named_parameters() if name.endswith(".quantiles")]
    opt, opt_aux = torch.optim.Adam(main, lr=lr), torch.optim.Adam(aux, lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr * 0.05)
    hist = {"loss": [], "bpp": [], "mse": [], "snapshots": {}}
    pixels = batch_size * images.shape[1] * images.shape[2]
    start = time.perf_counter()
    for step in runtime.progress(range(1, steps + 1), desc=desc, disable=not progress):
        pick = torch.randint(len(data), (batch_size,), generator=gen).to(dev)
        x = data[pick]
        out = model(x) if cond is None else model(x, cond[pick])
        bpp = sum(torch.log(p).sum() for p in out["likelihoods"].values()) / (-math.log(2) * pixels)
        x_hat, x = crop(out["x_hat"], *images.shape[1:3]), crop(x, *images.shape[1:3])
        mse = torch.mean((x_hat - x) ** 2)
        if distortion == "mse":
            loss = lam * 255**2 * mse + bpp
        else:  # SSIM of the images in [0, 1] mapped to ssim_parts' [-1, 1]
            loss = lam * (1 - ssim_parts(x_hat * 2 - 1, x * 2 - 1)[0].mean()) + bpp
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(main, 1.0)
        opt.step()
        sched.step()
        opt_aux.zero_grad(set_to_none=True)
        model.aux_loss().backward()
        opt_aux.step()
        for key, value in (("loss", loss), ("bpp", bpp), ("mse", mse)):
            hist[key].append(value.item())
        if step in keep:
            hist["snapshots"][step] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    hist["seconds"] = time.perf_counter() - start
    model = model.cpu().eval()
    model.update(force=True)
    return model, hist


def _quiet() -> None:
    """A worker's stderr goes nowhere: in a notebook it would become the page's output (errors
    come back to the parent with their traceback)."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)


def _train_job(job: dict) -> tuple[dict, dict]:
    model, hist = train_learned(**job, progress=False, threads=1)
    return model.state_dict(), hist


def trained_model(job: dict, state: dict) -> CompressionModel:
    """The model of a :func:`train_learned` job (its keyword arguments) with weights ``state``, in
    eval mode with its CDFs updated."""
    model = build(job["images"].shape[3], job.get("n", 64), job.get("m", 96), job.get("model", "factorized"),
                  job.get("down", DOWN))
    model.load_state_dict(state)
    model.eval().update(force=True)
    return model


def train_each(jobs: list[dict], workers: int | None = None, desc: str = "train"
               ) -> Iterator[tuple[int, CompressionModel, dict]]:
    """:func:`train_learned` (``**job``) for every job, yielding (job index, model, history) as
    each finishes. On the CPU, up to ``workers`` run at once, each in its own process with one
    torch thread: these small models keep one thread busy but not two (measured here: 57 ms a
    step with two threads, 60 with one), so two processes train nearly twice as many models per
    minute as one process with two threads. Default: one worker per job up to twice the cores
    (3 jobs on 2 cores finish in 1.5 job times, not 2), else one per core. Each job's result is
    what it would be alone with one thread (so the models do not depend on ``workers``); its
    ``seconds`` are its own wall time, shared with the others. On a GPU the jobs run one after
    another."""
    cores = os.cpu_count() or 1
    workers = min(len(jobs), workers or (len(jobs) if len(jobs) <= 2 * cores else cores))
    if workers <= 1 or runtime.device().type == "cuda":
        for i, job in enumerate(jobs):
            yield i, *train_learned(**job, progress=True, threads=1 if runtime.device().type == "cpu" else 2)
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_quiet) as pool:
        futures = {pool.submit(_train_job, job): i for i, job in enumerate(jobs)}
        for future in runtime.progress(as_completed(futures), desc=desc, total=len(futures), mininterval=0):
            state, hist = future.result()
            yield futures[future], trained_model(jobs[futures[future]], state), hist


def train_many(jobs: list[dict], workers: int | None = None, desc: str = "train"
               ) -> list[tuple[CompressionModel, dict]]:
    """:func:`train_each`'s (model, history) of every job, in the order of ``jobs``."""
    done = {i: (model, hist) for i, model, hist in train_each(jobs, workers, desc)}
    return [done[i] for i in range(len(jobs))]


def check_params(models: list, lambdas: list, steps: int, batch_size: int, lr: float, down: int = DOWN,
                 ssim_lambdas: Sequence[float] = ()) -> None:
    """Validate 04_baselines' learned-codec parameters (ValueError naming the first bad one)."""
    for family in models:
        params.choice("learned_models", family, FAMILIES)
    for name, values in (("learned_lambdas", lambdas), ("learned_ssim_lambdas", ssim_lambdas)):
        for lam in values:
            params.positive(name, lam)
    params.steps("learned_steps", steps)
    params.int_range("learned_batch_size", batch_size, 1, 4096)
    params.positive("learned_lr", lr)
    params.int_range("learned_down", down, 1, 4)


def data_fingerprint(images: np.ndarray) -> str:
    """The first 8 hex digits of the SHA-256 of training images (uint8 (N, H, W, C)) and their shape:
    what shipped models record, so that a run on other data does not load them."""
    return hashlib.sha256(str(images.shape).encode() + np.ascontiguousarray(images).tobytes()).hexdigest()[:8]


def train_all(images: np.ndarray, run: str | Path, models: list, lambdas: dict[str, list], steps: int,
              batch_size: int, lr: float, seed: int, n: int, m: int, down: int = DOWN, workers: int | None = None
              ) -> tuple[list[tuple[str, float, CompressionModel]], list[dict], dict[str, list]]:
    """Train every family of ``models`` (:data:`FAMILIES`) at every λ of its distortion
    (``lambdas``: distortion -> list) on ``images`` (uint8 (N, H, W, C)), ``workers`` at a time
    (:func:`train_many`), save each to the run's ``learned/`` (:meth:`ganlib.core.paths.RunDir.learned_model`)
    and the budget to ``learned.json``.
    Returns the trained (family, λ, model), one budget row per model (:func:`budget_row`) and the per-step
    train bpp by ``"<family>, λ=<lambda>"``."""
    trained, budget, train_bpp = [], [], {}
    jobs = []
    for family in models:
        kind, distortion = parse_family(family)
        jobs += [{"images": images, "lam": lam, "steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed,
                  "n": n, "m": m, "model": kind, "down": down, "distortion": distortion} for lam in lambdas[distortion]]
    for job, (model, hist) in zip(jobs, train_many(jobs, workers, "train learned codecs")):
        family, lam = family_id(job["model"], job["distortion"]), job["lam"]
        save(paths.RunDir(run).learned_model(family, lam), model)
        trained.append((family, lam, model))
        budget.append(budget_row(family, lam, steps, batch_size, lr, hist))
        train_bpp[f"{family}, λ={lam}"] = hist["bpp"]
    meta = {"n": n, "m": m, "down": down, "data_fingerprint": data_fingerprint(images), "runs": budget}
    files.write_text(paths.RunDir(run).learned_meta, json.dumps(meta, indent=2))
    return trained, budget, train_bpp


def load_shipped(folder: str | Path, run: str | Path, models: list, images: np.ndarray
                 ) -> tuple[list[tuple[str, float, CompressionModel]], list[dict]]:
    """The models of every family of ``models`` that ``folder`` ships (``learned.json`` and
    ``learned/``, written by ``make learned``), after checking that they were trained on
    ``images``, the run's training split (ValueError otherwise); each is copied to the run's
    ``learned/`` with the folder's ``learned.json`` (plus ``from``), as :func:`train_all` leaves a run.
    Returns the (family, λ, model) and the budget rows of those models."""
    folder, run = paths.RunDir(folder), paths.RunDir(run)
    meta = json.loads(paths.require(folder.learned_meta, "make learned (python -m ganlib.pipeline.learned_study)"
                                    ).read_text())
    mine = data_fingerprint(images)
    if meta.get("data_fingerprint") != mine:
        raise ValueError(f"learned_from: {paths.relative(folder.learned_meta)} was trained on other data (fingerprint "
                         f"{meta.get('data_fingerprint')}; this run's training split: {mine}); set learned_from "
                         "to '' to train the learned codecs here")
    missing = [f for f in models if f not in {r["model"] for r in meta["runs"]}]
    if missing:
        raise ValueError(f"learned_models: {', '.join(missing)} not in {paths.relative(folder.learned_meta)}")
    runs = [r for r in meta["runs"] if r["model"] in models]
    trained = []
    for r in runs:
        source = folder.learned_model(r["model"], r["lambda"])
        model = load(source, images.shape[3], meta["n"], meta["m"], parse_family(r["model"])[0])
        with files.atomic_path(run.learned_model(r["model"], r["lambda"])) as tmp:
            shutil.copyfile(source, tmp)
        trained.append((r["model"], r["lambda"], model))
    files.write_text(run.learned_meta, json.dumps({**meta, "runs": runs, "from": paths.relative(folder.root)},
                                                  indent=2))
    return trained, runs


def budget_row(kind: str, lam: float, steps: int, batch_size: int, lr: float, hist: dict) -> dict:
    """One trained model's budget: model, lambda, steps, batch_size, lr, seconds, and its final train
    bpp and MSE (means of the last 100 steps of :func:`train_learned`'s history)."""
    return {"model": kind, "lambda": lam, "steps": steps, "batch_size": batch_size, "lr": lr,
            "seconds": round(hist["seconds"], 1), "final_train_bpp": float(np.mean(hist["bpp"][-100:])),
            "final_train_mse": float(np.mean(hist["mse"][-100:]))}


def save(path: str | Path, model: CompressionModel) -> None:
    """Weights and the entropy coder's CDF tables, as safetensors (atomically), with the number of
    stride-2 stages in the file's metadata (the weights have the same shapes at any ``down``)."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with files.atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"down": str(model.down)})


def load(path: str | Path, channels: int = 1, n: int = 64, m: int = 96, model: str = "factorized"
         ) -> CompressionModel:
    """A model written by :func:`save` (no code is unpickled), in eval mode; ``model``: one of KINDS.
    Files without ``down`` in their metadata predate it and had CompressAI's 4 stages."""
    with safe_open(str(path), "pt") as f:
        down = int((f.metadata() or {}).get("down", 4))
    model = build(channels, n, m, model, down)
    model.load_state_dict(load_file(str(path)))
    return model.eval()
