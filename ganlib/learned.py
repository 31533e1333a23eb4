"""Learned-codec baselines: CompressAI's factorized-prior model (Ballé et al. 2017) and its
scale-hyperprior model (Ballé et al. 2018), trained on the same training split as the GAN at a
rate-distortion trade-off ``lam``, scored on the byte strings of their real ``compress()``.

Images are uint8 (H, W, C); the models see them in [0, 1], padded (edge replicate) to a
multiple of 16 (factorized) or 32 (hyperprior) pixels, and crop their output back. The
hyperprior's transforms h_a and h_s downsample once rather than twice, so that 28-pixel images
need no more padding than the factorized model's.
"""
from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from . import files, params, runtime
from .codec import Codec

with warnings.catch_warnings():  # CompressAI 1.2.8 calls torch.jit.script, deprecated in torch 2.14,
    warnings.filterwarnings("ignore", message=".*torch.jit.script", category=FutureWarning)
    # and imports torch_geometric, which imports tqdm.auto: in a kernel without ipywidgets that
    # warns "IProgress not found" (a TqdmWarning); this project's bars go to the terminal anyway
    warnings.filterwarnings("ignore", message="IProgress not found")
    import compressai
    from compressai.models import CompressionModel, FactorizedPrior, ScaleHyperprior
    from compressai.models.utils import conv, deconv

MODELS = {"factorized": 16, "hyperprior": 32}  # model -> the multiple of its input size


def build(channels: int = 1, n: int = 64, m: int = 96, model: str = "factorized") -> CompressionModel:
    """A CompressAI model with ``channels`` input/output channels (CompressAI's are RGB only)."""
    params.choice("model", model, MODELS)
    if model == "factorized":
        net = FactorizedPrior(n, m)
    else:
        net = ScaleHyperprior(n, m)
        net.h_a = torch.nn.Sequential(conv(m, n, stride=1, kernel_size=3), torch.nn.ReLU(inplace=True), conv(n, n))
        net.h_s = torch.nn.Sequential(deconv(n, n), torch.nn.ReLU(inplace=True), conv(n, m, stride=1, kernel_size=3),
                                      torch.nn.ReLU(inplace=True))
    net.g_a[0] = conv(channels, n)
    net.g_s[-1] = deconv(n, channels)
    return net


def kind(model: CompressionModel) -> str:
    """The model's name, a key of MODELS."""
    return "hyperprior" if isinstance(model, ScaleHyperprior) else "factorized"


def _pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    return torch.nn.functional.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="replicate")


def _crop(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
    return x[..., top:top + h, left:left + w]


def to_unit(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W) in [0, 1]."""
    return (runtime.to_tensor(images) + 1) / 2


def train_learned(images: np.ndarray, lam: float, steps: int, batch_size: int = 32, lr: float = 1e-3,
                  seed: int = 0, n: int = 64, m: int = 96, model: str = "factorized",
                  progress: bool = True) -> tuple[CompressionModel, dict]:
    """Minimise lam * 255^2 * MSE + bits per pixel (CompressAI's rate-distortion loss) with Adam,
    plus the entropy bottleneck's auxiliary loss. Returns the model (eval, CDFs updated) and a
    history with per-step ``loss``, ``bpp``, ``mse`` and ``seconds``."""
    params.positive("lam", lam)
    params.int_range("steps", steps, 1, 10**7)
    params.choice("model", model, MODELS)
    desc = f"train {model} (lambda {lam})"
    dev = runtime.setup(seed)
    gen = torch.Generator().manual_seed(seed)
    data = _pad(to_unit(images), MODELS[model]).to(dev)
    model = build(images.shape[3], n, m, model).to(dev).train()
    main = [p for name, p in model.named_parameters() if not name.endswith(".quantiles")]
    aux = [p for name, p in model.named_parameters() if name.endswith(".quantiles")]
    opt, opt_aux = torch.optim.Adam(main, lr=lr), torch.optim.Adam(aux, lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr * 0.05)
    hist = {"loss": [], "bpp": [], "mse": []}
    pixels = batch_size * images.shape[1] * images.shape[2]
    start = time.perf_counter()
    for _ in runtime.progress(range(steps), desc=desc, disable=not progress):
        x = data[torch.randint(len(data), (batch_size,), generator=gen).to(dev)]
        out = model(x)
        bpp = sum(torch.log(p).sum() for p in out["likelihoods"].values()) / (-math.log(2) * pixels)
        mse = torch.mean((_crop(out["x_hat"], *images.shape[1:3]) - _crop(x, *images.shape[1:3])) ** 2)
        loss = lam * 255**2 * mse + bpp
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
    hist["seconds"] = time.perf_counter() - start
    model = model.cpu().eval()
    model.update(force=True)
    return model, hist


def check_params(models: list, lambdas: list, steps: int, batch_size: int, lr: float) -> None:
    """Validate 04_baselines' learned-codec parameters (ValueError naming the first bad one)."""
    for kind in models:
        params.choice("learned_models", kind, MODELS)
    for lam in lambdas:
        params.positive("learned_lambdas", lam)
    params.int_range("learned_steps", steps, 1, 10**7)
    params.int_range("learned_batch_size", batch_size, 1, 4096)
    params.positive("learned_lr", lr)


def train_all(images: np.ndarray, run: str | Path, models: list, lambdas: list, steps: int, batch_size: int,
              lr: float, seed: int, n: int, m: int) -> tuple[list[Learned], list[dict], dict[str, list]]:
    """Train every model at every λ on ``images`` (uint8 (N, H, W, C)), save each to
    :func:`checkpoint` and the budget to ``run/learned.json``. Returns the codecs, one budget row
    per model (model, lambda, steps, batch_size, lr, seconds, final train bpp and MSE: means of the
    last 100 steps) and the per-step train bpp by ``"<model>, λ=<lambda>"``."""
    codecs, budget, train_bpp = [], [], {}
    for kind in models:
        for lam in lambdas:
            model, hist = train_learned(images, lam, steps, batch_size, lr, seed, n=n, m=m, model=kind)
            save(checkpoint(run, kind, lam), model)
            codecs.append(Learned(model, lam, images.shape[1:]))
            budget.append({"model": kind, "lambda": lam, "steps": steps, "batch_size": batch_size, "lr": lr,
                           "seconds": round(hist["seconds"], 1), "final_train_bpp": float(np.mean(hist["bpp"][-100:])),
                           "final_train_mse": float(np.mean(hist["mse"][-100:]))})
            train_bpp[f"{kind}, λ={lam}"] = hist["bpp"]
    files.write_text(Path(run) / "learned.json", json.dumps({"n": n, "m": m, "runs": budget}, indent=2))
    return codecs, budget, train_bpp


def checkpoint(run: str | Path, model: str, lam: float) -> Path:
    """Where a run keeps the trained ``model`` for trade-off ``lam``."""
    return Path(run) / "learned" / f"{model}_lambda_{lam}.safetensors"


def save(path: str | Path, model: CompressionModel) -> None:
    """Weights and the entropy coder's CDF tables, as safetensors (atomically)."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with files.atomic_path(path) as tmp:
        save_file(state, str(tmp))


def load(path: str | Path, channels: int = 1, n: int = 64, m: int = 96, model: str = "factorized"
         ) -> CompressionModel:
    """A model written by :func:`save` (no code is unpickled), in eval mode."""
    model = build(channels, n, m, model)
    model.load_state_dict(load_file(str(path)))
    return model.eval()


class Learned(Codec):
    """A trained model as a codec, named after it (``factorized`` or ``hyperprior``). The file is
    the entropy coder's byte string; the hyperprior's holds the side information first, after
    its length (one byte). The latent shape follows from the image size the model is built for."""

    version = f"CompressAI {compressai.__version__}"

    def __init__(self, model: CompressionModel, param, shape: tuple[int, int, int]):
        self.model, self.param, self.shape = model.cpu().eval(), param, shape
        self.name = kind(model)
        self.multiple = MODELS[self.name]

    def _latent_shape(self) -> tuple[int, int]:
        """Spatial shape of the latent the decoder starts from: y (factorized) or z (hyperprior)."""
        return tuple(-(-s // self.multiple) for s in self.shape[:2])

    def encode(self, image: np.ndarray) -> bytes:
        if image.shape != self.shape:
            raise ValueError(f"image must be {self.shape}; got {image.shape}")
        with torch.no_grad():
            strings = self.model.compress(_pad(to_unit(image[None]), self.multiple))["strings"]
        if self.name == "factorized":
            return strings[0][0]
        y, z = strings[0][0], strings[1][0]
        if len(z) > 255:
            raise ValueError(f"side information of {len(z)} bytes does not fit this format (at most 255)")
        return bytes([len(z)]) + z + y

    def _strings(self, data: bytes) -> list[list[bytes]]:
        data = bytes(data)
        if self.name == "factorized":
            return [[data]]
        if not data or 1 + data[0] > len(data):
            raise ValueError("truncated hyperprior file")
        return [[data[1 + data[0]:]], [data[1:1 + data[0]]]]

    def decode(self, data: bytes) -> np.ndarray:
        with torch.no_grad():
            x = self.model.decompress(self._strings(data), self._latent_shape())["x_hat"]
        return runtime.to_uint8(_crop(x, *self.shape[:2]) * 2 - 1)[0]

    def payload_span(self, data: bytes) -> tuple[int, int]:
        """All entropy-coded bytes; the hyperprior's length byte is header."""
        return (0 if self.name == "factorized" else 1), len(data)
