"""Latent search ("GAN reversal"): the latent z whose G(z) best matches an image, and its
quantization-aware refinement (the GAN codec, :mod:`ganlib.codecs.gan`, is built on it).

Images are float tensors (B, C, H, W) in [-1, 1]; latents are (B, latent_dim).
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ganlib.core import params, runtime
from ganlib.formats import latent_format
from ganlib.models import prior as priors
from ganlib.models.losses import LOSSES, image_loss
from ganlib.models.nets import Encoder, Generator

INITS = ("random", "encoder")
OPTIMIZERS = ("adam", "lbfgs")
LBFGS_HISTORY = 20  # curvature pairs each image's L-BFGS keeps (10: 0.004 lower SSIM after 50 steps, default run)


@dataclass(frozen=True)
class InversionConfig:
    """How an image is turned into a latent: the one set of defaults, shared by the command line,
    :class:`GanCodec`, 03_invert and the benchmark. Invalid values raise ``ValueError`` naming them.

    ``init="random"``: ``restarts`` random starts per image, the best after a tenth of the steps
    goes on. ``init="encoder"``: one start per image at the encoder's guess E(x); ``steps`` may be 0.
    ``optimizer="adam"``: Adam at ``lr``, cosine-decayed; ``"lbfgs"``: per-image L-BFGS
    (:func:`lbfgs`), preconditioned by the encoder's metric when there is an encoder, whose first
    step moves no coordinate by more than ``lr``; a step is one evaluation of the loss and its
    gradient either way. Then ``refine_steps`` of quantization-aware refinement on the grid of
    each bit depth, at ``refine_lr`` (0: one quantizer step of that bit depth).

    ``rate_lambda`` > 0 adds the rate term ``rate_lambda * bits`` to the loss of the search and of
    the refinement, where bits is the latent's code length under the model's prior
    (:func:`ganlib.models.prior.rate_bits`: the density in the search, the quantized latent's probability,
    straight-through, in the refinement), so the search trades bytes against quality: a second
    rate knob beside the bit depth (0: quality only, as before).
    """

    loss: str = "ssim"
    init: str = "random"
    optimizer: str = "adam"
    steps: int = 1000
    restarts: int = 4
    lr: float = 0.05
    refine_steps: int = 200
    refine_lr: float = 0.0
    z_range: float = latent_format.Z_RANGE
    seed: int = 0
    rate_lambda: float = 0.0

    def __post_init__(self):
        params.choice("loss", self.loss, LOSSES)
        params.choice("init", self.init, INITS)
        params.choice("optimizer", self.optimizer, OPTIMIZERS)
        params.int_range("steps", self.steps, 1 if self.init == "random" else 0, 10**6)
        params.int_range("restarts", self.restarts, 1, 1024)
        if self.init == "encoder" and self.restarts != 1:
            raise ValueError(f"restarts={self.restarts!r} is not allowed with init='encoder'; it must be 1")
        params.positive("lr", self.lr)
        params.int_range("refine_steps", self.refine_steps, 0, 10**6)
        if isinstance(self.refine_lr, bool) or not isinstance(self.refine_lr, (int, float)) or self.refine_lr < 0:
            raise ValueError(f"refine_lr={self.refine_lr!r} is not allowed; it must be a number >= 0 "
                             "(0: one quantizer step)")
        latent_format.check_range(self.z_range)
        params.int_range("seed", self.seed, 0, 2**63 - 1)
        if (isinstance(self.rate_lambda, bool) or not isinstance(self.rate_lambda, (int, float))
                or not 0 <= self.rate_lambda < math.inf):
            raise ValueError(f"rate_lambda={self.rate_lambda!r} is not allowed; it must be a number >= 0 "
                             "(weight of the latent's bits in the loss; 0: no rate term)")

    def to_dict(self) -> dict:
        return asdict(self)


def check_bits(bits) -> list[int]:
    """Validate one bit depth or a list of them (1..16); return a sorted list."""
    return params.int_list("bits", bits, 1, 16)


# ---------------------------------------------------------------- search
@dataclass
class Inversion:
    z: torch.Tensor  # (B, latent_dim), on the CPU, inside [-z_range, z_range]
    loss: np.ndarray  # (B,) final per-image loss, + rate_lambda * bits with a rate term (empty when no step ran)
    history: list[float] = field(default_factory=list)  # per step: mean over images of the best start's loss
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)  # step -> uint8 (B, H, W, C)


def frozen(module: torch.nn.Module, device) -> torch.nn.Module:
    """A copy of ``module`` on ``device`` in eval mode without gradients, its convolutions in
    channels-last layout (about twice as fast on a CPU): the caller's stays as it was."""
    module = copy.deepcopy(module).to(device, memory_format=torch.channels_last).eval()
    module.requires_grad_(False)
    return module


def start_points(G: Generator, targets: torch.Tensor, config: InversionConfig, encoder: Encoder | None = None,
                 seeds: list[int] | None = None) -> torch.Tensor:
    """Initial latents (B * restarts, latent_dim), restart-major, inside [-z_range, z_range]:
    the encoder's guess E(x) (``init="encoder"``) or seeded N(0, I) draws: one generator seeded
    with ``config.seed`` for the whole batch, or with ``seeds`` (one per image) image i's starts
    drawn from ``seeds[i]`` alone, so they do not depend on which batch the image is in."""
    if config.init == "encoder":
        if encoder is None:
            raise ValueError("init='encoder' needs an encoder (train one with make encoder), or use init='random'")
        with torch.no_grad():
            return encoder(targets).clamp(-config.z_range, config.z_range)
    if seeds is not None:
        if len(seeds) != targets.shape[0]:
            raise ValueError(f"seeds: {len(seeds)} given for {targets.shape[0]} images; give one per image")
        d = G.config.latent_dim
        z = torch.stack([torch.randn(config.restarts, d, generator=torch.Generator().manual_seed(int(s)))
                         for s in seeds], 1).reshape(-1, d)  # restart-major
        return z.clamp_(-config.z_range, config.z_range).to(targets.device)
    gen = torch.Generator().manual_seed(config.seed)
    z = torch.randn(targets.shape[0] * config.restarts, G.config.latent_dim, generator=gen)
    return z.clamp_(-config.z_range, config.z_range).to(targets.device)


def lbfgs(fn, z: torch.Tensor, lr: float, z_range: float, metric: torch.Tensor | None = None,
          history: int = LBFGS_HISTORY):
    """L-BFGS on every row of ``z`` (B, d) at once, each image with its own curvature pairs and
    step length: ``fn`` maps (B, d) latents to per-image losses (B,). The initial inverse Hessian
    is ``gamma * metric`` (default: the identity), gamma from each image's newest pair; the first
    step moves no coordinate by more than ``lr``. Step lengths are found by backtracking (Armijo,
    quadratic interpolation), z is projected onto [-z_range, z_range]. Yields (z, loss) after
    every evaluation of ``fn``, the first at ``z`` itself, the loss never increasing; the caller
    stops it."""
    metric = torch.eye(z.shape[1], device=z.device) if metric is None else metric.to(z.device)

    def evaluate(x):
        x = x.detach().requires_grad_()
        f = fn(x)
        return f.detach(), torch.autograd.grad(f.sum(), x)[0]

    def direction():  # -H g by the two-loop recursion, per image; steepest descent if that is no descent
        q, alphas = g.clone(), []
        for s, y, rho in zip(reversed(S), reversed(Y), reversed(R)):
            alphas.append(rho * (s * q).sum(1, keepdim=True))
            q -= alphas[-1] * y
        r = gamma * (q @ metric)
        for (s, y, rho), alpha in zip(zip(S, Y, R), reversed(alphas)):
            r += s * (alpha - rho * (y * r).sum(1, keepdim=True))
        return torch.where((g * r).sum(1, keepdim=True) > 0, -r, -gamma * (g @ metric))

    z = z.detach().clone()
    f, g = evaluate(z)
    yield z, f
    S, Y, R = [], [], []  # per pair (B, d), (B, d), (B, 1); an image with no new pair adds zeros
    gamma = lr / (g @ metric).abs().amax(1, keepdim=True).clamp_min(1e-12)
    a, p = torch.ones_like(f), direction()
    while True:
        trial = (z + a[:, None] * p).clamp(-z_range, z_range)
        ft, gt = evaluate(trial)
        slope = (g * p).sum(1)
        ok = ft <= f + 1e-4 * a * slope  # Armijo: accept, else backtrack on the same direction
        s, y = torch.where(ok[:, None], trial - z, 0), torch.where(ok[:, None], gt - g, 0)
        sy = (s * y).sum(1, keepdim=True)
        new = ok[:, None] & (sy > 1e-10)  # curvature condition
        S.append(torch.where(new, s, 0))
        Y.append(torch.where(new, y, 0))
        R.append(torch.where(new, 1 / sy, 0))
        del S[:-history], Y[:-history], R[:-history]
        gamma = torch.where(new, sy / ((y @ metric) * y).sum(1, keepdim=True).clamp_min(1e-30), gamma)
        curve = 2 * (ft - f - slope * a)  # minimum of the quadratic through f, slope and ft, within [0.1 a, 0.5 a]
        shorter = torch.where(curve > 0, -slope * a * a / curve.clamp_min(1e-30), 0.5 * a)
        a = torch.where(ok, torch.ones_like(a), torch.minimum(torch.maximum(shorter, 0.1 * a), 0.5 * a))
        z, f, g = torch.where(ok[:, None], trial, z), torch.where(ok, ft, f), torch.where(ok[:, None], gt, g)
        p = torch.where(ok[:, None], direction(), p)
        yield z, f


def invert(G: Generator, targets: torch.Tensor, config: InversionConfig = InversionConfig(),
           encoder: Encoder | None = None, snapshot_at: tuple[int, ...] = (), progress: bool = True,
           device=None, prior: latent_format.LatentModel | None = None, seeds: list[int] | None = None) -> Inversion:
    """Find z minimising ``config.loss(G(z), target)`` for every target (B, C, H, W) in [-1, 1] at
    once, z kept inside [-z_range, z_range], from the start points of :func:`start_points`:
    Adam with a cosine-decayed lr, or L-BFGS (:func:`lbfgs`, preconditioned by ``encoder.metric``
    when an encoder is given). With R > 1 random restarts, all R starts per image run for
    the first tenth of the steps and the best one per image goes on. ``G`` and ``encoder`` are
    left as they were (the search runs on frozen copies). With ``config.rate_lambda`` > 0 the
    loss adds ``rate_lambda`` times z's code length in bits under ``prior`` (default: the unit
    prior), from its continuous density (:func:`ganlib.models.prior.rate_bits`). ``seeds``: one per
    target, for random starts per image (:func:`start_points`)."""
    objective = _objective(G, config.loss, config.rate_lambda, prior, config.z_range, None)
    device = device or runtime.device()
    G = frozen(G, device)
    targets = targets.to(device)
    encoder = frozen(encoder, device) if encoder is not None else None
    b, d, steps, restarts = targets.shape[0], G.config.latent_dim, config.steps, config.restarts
    z = start_points(G, targets, config, encoder, seeds).requires_grad_()
    tgt = targets.repeat(restarts, 1, 1, 1)
    select_at = max(1, steps // 10) if restarts > 1 else -1
    out = Inversion(z=torch.empty(0), loss=np.empty(0))
    search = _search(config, lambda x, target: objective(G(x), target, x), encoder)
    search.start(z, tgt, max(steps, 1))
    for step in runtime.progress(range(1, steps + 1), desc=f"invert ({config.loss})", disable=not progress):
        z, per_image = search.step()
        out.history.append(per_image.detach().view(-1, b).min(0).values.mean().item())  # best start per image
        if step == select_at:
            with torch.no_grad():
                best = objective(G(z), tgt, z).view(restarts, b).argmin(0)
                z = z.detach().view(restarts, b, d)[best, torch.arange(b)].clone().requires_grad_()
            tgt = targets
            search.restart(z, tgt, steps - step)
        if step in snapshot_at:
            with torch.no_grad():
                out.snapshots[step] = runtime.to_uint8(G(z[:b]))
    if steps:
        with torch.no_grad():
            out.loss = objective(G(z), tgt, z).cpu().numpy()
    out.z = z.detach()[:b].cpu()
    return out


class _Adam:
    """Adam at ``config.lr``, cosine-decayed to 2% of it over the steps left, ``z`` projected onto
    [-z_range, z_range] after each step; a restart goes on from the learning rate reached."""

    def __init__(self, config: InversionConfig, loss):
        self.loss, self.lr, self.eta_min, self.z_range = loss, config.lr, config.lr * 0.02, config.z_range

    def start(self, z: torch.Tensor, target: torch.Tensor, steps: int) -> None:
        self.z, self.target = z, target
        self.opt = torch.optim.Adam([z], lr=self.lr)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, steps, eta_min=self.eta_min)

    def restart(self, z: torch.Tensor, target: torch.Tensor, steps: int) -> None:
        self.lr = self.sched.get_last_lr()[0]
        self.start(z, target, steps)

    def step(self) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.z
        per_image = self.loss(z, self.target)
        self.opt.zero_grad(set_to_none=True)
        per_image.sum().backward()
        self.opt.step()
        self.sched.step()
        with torch.no_grad():
            z.clamp_(-self.z_range, self.z_range)
        return z, per_image


class _LBFGS:
    """Per-image L-BFGS (:func:`lbfgs`) preconditioned by ``metric``; its first evaluation, at the
    start, is a step, except after a restart (the selected starts were just evaluated)."""

    def __init__(self, config: InversionConfig, loss, metric: torch.Tensor | None):
        self.loss, self.lr, self.z_range, self.metric = loss, config.lr, config.z_range, metric

    def start(self, z: torch.Tensor, target: torch.Tensor, steps: int) -> None:
        self.run = lbfgs(lambda x: self.loss(x, target), z, self.lr, self.z_range, self.metric)

    def restart(self, z: torch.Tensor, target: torch.Tensor, steps: int) -> None:
        self.start(z, target, steps)
        next(self.run)

    def step(self) -> tuple[torch.Tensor, torch.Tensor]:
        return next(self.run)


def _search(config: InversionConfig, loss, encoder: Encoder | None) -> _Adam | _LBFGS:
    """The optimizer of :func:`invert` (``config.optimizer``) on ``loss(z, target) -> (B,)``:
    ``start(z, target, steps)``, then ``step() -> (z, per-image loss)`` once a step, and
    ``restart(z, target, steps left)`` after the best starts are selected."""
    if config.optimizer == "lbfgs":
        return _LBFGS(config, loss, encoder.metric if encoder is not None else None)
    return _Adam(config, loss)


def _objective(G: Generator, loss: str, rate_lambda: float, prior: latent_format.LatentModel | None, z_range: float,
               bits: int | None):
    """The per-image loss ``(x, target, z) -> (B,)`` of the search (``bits`` None) or of the
    refinement at ``bits``: ``image_loss(loss, x, target)``, plus, if ``rate_lambda`` > 0,
    ``rate_lambda`` times the code length of ``z`` in bits under ``prior`` (the unit prior when None)."""
    if not rate_lambda:
        return lambda x, target, z: image_loss(loss, x, target)
    model = prior if prior is not None else priors.unit(G, z_range)
    if model.z_range != z_range:
        raise ValueError(f"z_range={z_range!r} differs from the prior's quantizer range {model.z_range}")
    return lambda x, target, z: image_loss(loss, x, target) + rate_lambda * priors.rate_bits(z, model, bits)


def fake_quantize(z: torch.Tensor, bits: int, z_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Torch twin of :func:`codec.quantize` / :func:`codec.dequantize`: (symbols, cell centres)."""
    d = latent_format.step(bits, z_range)
    s = torch.floor((z.double() + z_range) / d).clamp(0, (1 << bits) - 1)
    return s.long(), (-z_range + (s + 0.5) * d).float()


def refine(G: Generator, targets: torch.Tensor, z: torch.Tensor, loss: str, bits: int, z_range: float,
           steps: int = 200, lr: float = 0.01, device=None, rate_lambda: float = 0.0,
           prior: latent_format.LatentModel | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Quantization-aware refinement: optimise the loss *of the quantized latent* with a
    straight-through estimator, keeping per image the best symbols seen (plain rounding
    included, so refinement never makes an image worse under ``loss``).
    With ``rate_lambda`` > 0 the loss adds ``rate_lambda`` times the quantized latent's code
    length in bits under ``prior`` (default: the unit prior; :func:`ganlib.models.prior.rate_bits`),
    straight-through too, and "worse" is under that sum.
    Returns (symbols int64 (B, latent_dim), their per-image loss (B,))."""
    objective = _objective(G, loss, rate_lambda, prior, z_range, bits)
    device = device or runtime.device()
    G = frozen(G, device)
    targets = targets.to(device)
    w = z.clone().to(device).requires_grad_()
    best_sym, zq = fake_quantize(w.detach(), bits, z_range)
    with torch.no_grad():
        best_loss = objective(G(zq), targets, zq)
    opt = torch.optim.Adam([w], lr=lr)
    for _ in range(steps):
        sym, zq = fake_quantize(w.detach(), bits, z_range)
        zs = w + (zq - w).detach()  # value at zq, gradient at w
        per_image = objective(G(zs), targets, zs)
        with torch.no_grad():
            better = per_image < best_loss
            best_loss = torch.where(better, per_image, best_loss)
            best_sym[better] = sym[better]
        opt.zero_grad(set_to_none=True)
        per_image.sum().backward()
        opt.step()
        with torch.no_grad():
            w.clamp_(-z_range, z_range)
    return best_sym.cpu().numpy(), best_loss.detach().cpu().numpy()
