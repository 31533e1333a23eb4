"""Learned-codec baseline: CompressAI's factorized-prior model (Ballé et al. 2017), trained on the
same training split as the GAN at a rate-distortion trade-off ``lam``, scored on the byte
strings of its real ``compress()``.

Images are uint8 (H, W, C); the model sees them in [0, 1], padded (edge replicate) to a
multiple of 16 pixels, and crops its output back.
"""
from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from . import files, params, runtime
from .codec import Codec

with warnings.catch_warnings():  # CompressAI 1.2.8 calls torch.jit.script, deprecated in torch 2.14
    warnings.filterwarnings("ignore", message=".*torch.jit.script", category=FutureWarning)
    import compressai
    from compressai.models import FactorizedPrior
    from compressai.models.utils import conv, deconv

MULTIPLE = 16  # four stride-2 analysis stages


def build(channels: int = 1, n: int = 64, m: int = 96) -> FactorizedPrior:
    """FactorizedPrior with ``channels`` input/output channels (CompressAI's is RGB only)."""
    model = FactorizedPrior(n, m)
    model.g_a[0] = conv(channels, n)
    model.g_s[-1] = deconv(n, channels)
    return model


def _pad(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = -h % MULTIPLE, -w % MULTIPLE
    return torch.nn.functional.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="replicate")


def _crop(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
    return x[..., top:top + h, left:left + w]


def to_unit(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W) in [0, 1]."""
    return (runtime.to_tensor(images) + 1) / 2


def train_learned(images: np.ndarray, lam: float, steps: int, batch_size: int = 32, lr: float = 1e-3,
                  seed: int = 0, n: int = 64, m: int = 96, progress: bool = True) -> tuple[FactorizedPrior, dict]:
    """Minimise lam * 255^2 * MSE + bits per pixel (CompressAI's rate-distortion loss) with Adam,
    plus the entropy bottleneck's auxiliary loss. Returns the model (eval, CDFs updated) and a
    history with per-step ``loss``, ``bpp``, ``mse`` and ``seconds``."""
    params.positive("lam", lam)
    params.int_range("steps", steps, 1, 10**7)
    dev = runtime.setup(seed)
    gen = torch.Generator().manual_seed(seed)
    data = _pad(to_unit(images)).to(dev)
    model = build(images.shape[3], n, m).to(dev).train()
    main = [p for name, p in model.named_parameters() if not name.endswith(".quantiles")]
    aux = [p for name, p in model.named_parameters() if name.endswith(".quantiles")]
    opt, opt_aux = torch.optim.Adam(main, lr=lr), torch.optim.Adam(aux, lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr * 0.05)
    hist = {"loss": [], "bpp": [], "mse": []}
    pixels = batch_size * images.shape[1] * images.shape[2]
    start = time.perf_counter()
    for _ in tqdm(range(steps), desc=f"train learned codec (lambda {lam})", disable=not progress, mininterval=2):
        x = data[torch.randint(len(data), (batch_size,), generator=gen).to(dev)]
        out = model(x)
        bpp = sum(torch.log(l).sum() for l in out["likelihoods"].values()) / (-math.log(2) * pixels)
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


def save(path: str | Path, model: FactorizedPrior) -> None:
    """Weights and the entropy coder's CDF tables, as safetensors (atomically)."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with files.atomic_path(path) as tmp:
        save_file(state, str(tmp))


def load(path: str | Path, channels: int = 1, n: int = 64, m: int = 96) -> FactorizedPrior:
    """A model written by :func:`save` (no code is unpickled), in eval mode."""
    model = build(channels, n, m)
    model.load_state_dict(load_file(str(path)))
    return model.eval()


class Learned(Codec):
    """A trained factorized-prior model as a codec. The file is the entropy coder's byte string;
    the latent shape it needs follows from the image size, which the model is built for."""

    name = "learned"
    version = f"CompressAI {compressai.__version__}"

    def __init__(self, model: FactorizedPrior, param, shape: tuple[int, int, int]):
        self.model, self.param, self.shape = model.cpu().eval(), param, shape

    def _latent_shape(self) -> tuple[int, int]:
        h, w = (-(-s // MULTIPLE) * MULTIPLE for s in self.shape[:2])
        return h // MULTIPLE, w // MULTIPLE

    def encode(self, image: np.ndarray) -> bytes:
        if image.shape != self.shape:
            raise ValueError(f"image must be {self.shape}; got {image.shape}")
        with torch.no_grad():
            out = self.model.compress(_pad(to_unit(image[None])))
        return out["strings"][0][0]

    def decode(self, data: bytes) -> np.ndarray:
        with torch.no_grad():
            x = self.model.decompress([[bytes(data)]], self._latent_shape())["x_hat"]
        return runtime.to_uint8(_crop(x, *self.shape[:2]) * 2 - 1)[0]

    def payload_span(self, data: bytes) -> tuple[int, int]:
        return 0, len(data)
