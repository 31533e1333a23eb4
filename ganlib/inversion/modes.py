"""GAN reversal's encoding modes, each defined once: the command line runs them, 03b_tradeoff
measures them, the residual layer's base and the prior's fit use them.

- ``encoder``: the encoder's guess E(x), quantized (no search, no refinement);
- ``hybrid``: E(x), then k steps of L-BFGS preconditioned by the encoder's metric (the default), or
  of Adam with refinement (:func:`hybrid_config`);
- ``search``: the seed's search from random starts (k Adam steps x R restarts, then refinement), or
  the hybrid's L-BFGS search from random starts (the control: the optimizer without the encoder)
  (:func:`search_config`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganlib.core import params, runtime
from ganlib.inversion.invert import InversionConfig, frozen, invert
from ganlib.models.nets import Encoder, Generator

HYBRID_OPTIMIZER = "lbfgs"  # the default hybrid search: the encoder's guess, then L-BFGS
HYBRID_STEPS = 40  # evaluations of the loss and its gradient
HYBRID_REFINE_STEPS = 0  # quantization-aware refinement steps
HYBRID_LR = 0.1  # L-BFGS: the first step's largest move of a coordinate
ADAM_HYBRID_STEPS = 100  # the Adam hybrid (the previous default): its steps when none are given
ADAM_HYBRID_LR = 0.05  # Adam's learning rate
ADAM_HYBRID_REFINE_STEPS = 20  # and its refinement steps
LBFGS_SEARCH_STEPS = 200  # the L-BFGS search from random starts: its steps when none are given
OPTIMIZER_NAMES = {"adam": "Adam", "lbfgs": "L-BFGS"}


def hybrid_config(loss: str = "ssim", steps: int | None = None, seed: int = 0,
                  optimizer: str = HYBRID_OPTIMIZER) -> InversionConfig:
    """The hybrid mode: one start at the encoder's guess, then ``steps`` steps of ``optimizer``:
    L-BFGS preconditioned by the encoder's metric, without refinement (the default; 40 steps when
    ``steps`` is None), or Adam at lr 0.05 with 20 refinement steps (the previous default; 100 steps
    when None). With ``steps=0`` the encoder alone: its guess rounded to the grid, no search."""
    adam = optimizer == "adam"
    if steps is None:
        steps = ADAM_HYBRID_STEPS if adam else HYBRID_STEPS
    return InversionConfig(loss=loss, init="encoder", optimizer=optimizer, steps=steps, restarts=1,
                           lr=ADAM_HYBRID_LR if adam else HYBRID_LR,
                           refine_steps=ADAM_HYBRID_REFINE_STEPS if adam and steps else HYBRID_REFINE_STEPS,
                           seed=seed)


def search_config(loss: str = "ssim", steps: int | None = None, restarts: int | None = None, seed: int = 0,
                  optimizer: str = "adam") -> InversionConfig:
    """The search from random starts: the seed's (Adam, :class:`InversionConfig`'s defaults) or, with
    ``optimizer="lbfgs"``, the hybrid's L-BFGS and refinement without the encoder's start (200 steps
    when ``steps`` is None)."""
    base = InversionConfig(loss=loss, seed=seed)
    if steps is None:
        steps = LBFGS_SEARCH_STEPS if optimizer == "lbfgs" else base.steps
    restarts = base.restarts if restarts is None else restarts
    if optimizer == "lbfgs":
        return InversionConfig(loss=loss, optimizer="lbfgs", steps=steps, restarts=restarts, seed=seed, lr=HYBRID_LR,
                               refine_steps=HYBRID_REFINE_STEPS)
    return InversionConfig(loss=loss, optimizer=optimizer, steps=steps, restarts=restarts, seed=seed)


def hybrid_latents(G: Generator, E: Encoder, images: np.ndarray, loss: str = "ssim", batch: int = 256,
                   progress: bool = False) -> np.ndarray:
    """The hybrid search's latents (before quantization) for uint8 images (N, H, W, C): (N, latent_dim)."""
    G, config = frozen(G, "cpu"), hybrid_config(loss)
    chunks = [invert(G, runtime.to_tensor(images[i:i + batch]), config, E).z.numpy()
              for i in runtime.progress(range(0, len(images), batch), desc="prior latents", disable=not progress)]
    return np.concatenate(chunks)


@dataclass(frozen=True)
class Mode:
    """One way to encode: its name (``encoder``, ``hybrid`` or ``search``) and the inversion it runs."""

    name: str
    config: InversionConfig

    @property
    def label(self) -> str:
        c = self.config
        if self.name == "search":
            return f"search {c.steps} x {c.restarts}" + (" (L-BFGS)" if c.optimizer == "lbfgs" else "")
        return "encoder only" if self.name == "encoder" else f"encoder + {c.steps} {OPTIMIZER_NAMES[c.optimizer]} steps"

    @property
    def slug(self) -> str:
        c = self.config
        return f"{self.name}_{c.optimizer}_{c.steps}x{c.restarts}"



def modes(loss: str, encoder_steps, search_steps, restarts: int, seed: int = 0, adam_steps=(),
          lbfgs_search_steps=()) -> list[Mode]:
    """Encoder-started modes for every step count in ``encoder_steps`` (L-BFGS; 0: encoder only) and
    in ``adam_steps`` (Adam and refinement, the previous hybrid), then random-start searches with
    ``restarts`` starts: the seed's (Adam, 200 refinement steps) for every count in ``search_steps``,
    and, for every count in ``lbfgs_search_steps``, the hybrid's search without its start (L-BFGS
    with the encoder's metric, the hybrid's refinement), the control that separates the two."""
    out = []
    for k in params.int_list("encoder_steps", encoder_steps, 0, 10**6):
        out.append(Mode("encoder" if k == 0 else "hybrid", hybrid_config(loss, k, seed)))
    optional = lambda name, v: [] if v in ([], ()) else params.int_list(name, v, 1, 10**6)  # noqa: E731 - [] allowed
    for k in optional("adam_steps", adam_steps):
        out.append(Mode("hybrid", hybrid_config(loss, k, seed, optimizer="adam")))
    for k in params.int_list("search_steps", search_steps, 1, 10**6):
        out.append(Mode("search", search_config(loss, k, restarts, seed)))
    for k in optional("lbfgs_search_steps", lbfgs_search_steps):
        out.append(Mode("search", search_config(loss, k, restarts, seed, optimizer="lbfgs")))
    return out
