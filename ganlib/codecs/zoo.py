"""How every codec family is built, by family id: the one table that whatever builds a codec by name
reads (the notebooks, the benchmark, the report's bit-error study). As in CompressAI, the codecs
(:mod:`ganlib.codecs.classical`, ``learned``, ``gan``, ``residual``) know nothing of this table, and
nothing below this module imports it. How a family is *shown* is :mod:`ganlib.codecs.families`'.

GAN reversal, the learned and the layered codecs load their models from a run directory
(``run=``): ``runs/<profile>/`` or the shipped ``models/``.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ganlib.codecs import classical, families, residual
from ganlib.codecs.gan import GanCodec
from ganlib.codecs.learned import Learned
from ganlib.core import params, paths
from ganlib.formats.interface import Codec
from ganlib.inversion import modes
from ganlib.models import checkpoints, encoder, learned, prior


def gan(param=8, channels: int = 1, run: str | Path | None = None, generator=None, **kwargs) -> GanCodec:
    """GanCodec at ``param`` bits on ``generator``, or on the generator of ``run``; with ``run``,
    also with the run's fitted latent prior when it has one (``prior.json``)."""
    if generator is None:
        if run is None:
            raise ValueError("GAN reversal needs its generator: give run= (a run directory) or generator=")
        generator = checkpoints.load_generator(run)
    if run is not None and "prior" not in kwargs:
        kwargs["prior"] = prior.load(run, generator, missing="none")
    return GanCodec(generator, bits=int(param), **kwargs)


def hybrid_gan(run: str | Path, bits: int, loss: str, steps: int | None = None) -> GanCodec:
    """GAN reversal in the hybrid mode (the run's encoder, then a short search with ``loss``; with
    ``steps=0`` the encoder alone) at ``bits``, with the run's prior: the command line's default,
    and the residual layer's base codec."""
    G = checkpoints.load_generator(run)
    E = encoder.load_encoder(run, G)
    if E is None:
        raise FileNotFoundError(f"{run} has no encoder: the hybrid and encoder-only modes need one (make encoder)")
    return GanCodec(G, bits, modes.hybrid_config(loss, steps), encoder=E, prior=prior.load(run, G))


def _gan_mode(family_id: str) -> Callable:
    def make(param=8, channels: int = 1, run: str | Path | None = None, loss: str = "ssim", **_) -> GanCodec:
        if run is None:
            raise ValueError(f"{family_id!r} is loaded from a run: give run=")
        if family_id == "gan_encoder":
            return hybrid_gan(run, int(param), loss, steps=0)
        return gan(param, channels, run, config=modes.search_config(loss))

    make.__doc__ = f"GAN reversal's {family_id!r} mode (ganlib.inversion.modes) on the generator of run"
    return make


def _classical(name: str) -> Callable:
    def make(param=None, channels: int = 1, **_) -> Codec:
        return classical.codec(name, param, channels)

    make.__doc__ = f"classical.codec({name!r}, param, channels)"
    return make


def _learned(family: str) -> Callable:
    kind, distortion = learned.parse_family(family)

    def make(param, channels: int = 1, run: str | Path | None = None, shape: tuple | None = None, **_) -> Learned:
        if run is None or shape is None:
            raise ValueError(f"the learned codec {family!r} is loaded from a run: give run= and shape= (H, W, C)")
        meta = json.loads(paths.RunDir(run).learned_meta.read_text())
        model = learned.load(paths.RunDir(run).learned_model(family, param), channels, meta["n"], meta["m"], kind)
        return Learned(model, param, tuple(shape), distortion)

    make.__doc__ = f"the {family} model trained for lambda=param in run/learned/"
    return make


def layered(run: str | Path, family: str, param, base: GanCodec | None = None, **_) -> residual.Layered:
    """The layered codec ``family`` (``gan_residual`` or ``gan_residual_webp``) at ``param`` of a run
    whose 04b_residual stage has run (``base``: its base codec, if already loaded)."""
    meta = json.loads(paths.require(paths.RunDir(run).residual_meta, "notebooks/04b_residual.ipynb (make residual)"
                                    ).read_text())
    base = base or hybrid_gan(run, meta["base_bits"], meta["loss"])
    if family == residual.WebpResidual.family:
        return residual.Layered(base, residual.WebpResidual(int(param), base.shape[2]))
    params.choice("family", family, residual.FAMILIES)
    if float(param) == 0:
        return residual.Layered(base, residual.BaseOnly())
    model = learned.load(paths.RunDir(run).learned_model("conditional", param), base.shape[2], meta["n"], meta["m"],
                         "conditional")
    return residual.Layered(base, residual.LearnedResidual(model, param))


def _layered(family_id: str) -> Callable:
    def make(param, channels: int = 1, run: str | Path | None = None, **kwargs) -> residual.Layered:
        if run is None:
            raise ValueError(f"the layered codec {family_id!r} is loaded from a run: give run=")
        return layered(run, family_id, param, **kwargs)

    make.__doc__ = f"GAN reversal's base layer plus the enhancement layer {family_id!r} of run (04b_residual)"
    return make


FACTORIES: dict[str, Callable] = {
    "gan": gan,
    **{f: _gan_mode(f) for f in ("gan_search", "gan_encoder")},
    **{name: _classical(name) for name in classical.CODECS},
    **{family: _learned(family) for family in learned.FAMILIES},
    **{f: _layered(f) for f in residual.FAMILIES},
}


def codec(family_id: str, param=None, channels: int = 1, **kwargs) -> Codec:
    """A codec by family and parameter: ``codec("jpeg", 1)``; GAN reversal and the learned
    codecs load their model from ``run=`` (learned ones also need ``shape=``)."""
    families.family(family_id)  # ValueError listing the ids
    return FACTORIES[family_id](param, channels=channels, **kwargs)
