"""The codec families the project compares, as they are shown: label, colour, marker, order.

A *family* is one codec with one knob (JPEG and its quality, GAN reversal and its bits per
latent dimension, a learned codec and its trade-off λ); a *scheme* is a family at one setting
(``jpeg1`` = JPEG at quality 1). Everything that lists, labels or draws codecs reads this module:
05_results and the report (labels, table order), the figures (one colour and one marker per
family, the same in every figure) and the benchmark. How a family's codec is *built* is
:mod:`ganlib.codecs.zoo`'s; the range of its knob is the codec class's ``knob``.

:data:`FAMILIES` is ordered: that order is the codec order of every table and legend. The
seed report's schemes (:data:`SUMMARY`) keep its order: gan, png, kmeans4, jpeg10, jpeg1,
webp0. A new family is one more :func:`register` call with a colour and a marker not yet used
(the tests check that colours and markers stay distinct) and one factory in the zoo.

Pure data: this module imports nothing from ganlib, so the report can read it without torch.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

GAN, CLASSICAL, LEARNED, LAYERED = "gan", "classical", "learned", "layered"


@dataclass(frozen=True)
class Family:
    """One codec family as it is shown; ``param`` names its knob (None: it has none)."""

    id: str
    label: str
    kind: str  # GAN, CLASSICAL, LEARNED or LAYERED
    param: str | None
    colour: str  # a matplotlib colour, used for this family in every figure
    marker: str  # a matplotlib marker, likewise
    short: str = ""  # how a setting is written after the label: "q={}", "{} bits", "λ={:g}"
    sep: str = " "  # between the label and the setting: "JPEG q=1", "K-means, K=4"

    def setting(self, param) -> str:
        """``param`` as written after the family's label (``q=1``, ``8 bits``); "" for none."""
        if param is None or (isinstance(param, float) and math.isnan(param)) or not self.short:
            return ""
        if isinstance(param, float) and param.is_integer() and "{:g}" not in self.short:
            param = int(param)
        return self.short.format(param)

    def name(self, param=None) -> str:
        """The family's label with its setting: ``JPEG q=1``, ``GAN reversal, 8 bits``."""
        setting = self.setting(param)
        return f"{self.label}{self.sep}{setting}" if setting else self.label

    def style(self) -> dict:
        """Matplotlib keyword arguments for this family: colour, marker and label."""
        return {"color": self.colour, "marker": self.marker, "label": self.label}


@dataclass(frozen=True)
class Scheme:
    """A family at one setting, as the seed report names it. ``param`` None for GAN reversal
    means "at the summary's bit depth" (05_results' ``gan_bits``)."""

    id: str
    family: str
    param: int | None
    label: str


# ------------------------------------------------------------------ the registry
FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add a family (at the end of the codec order); its id, colour and marker must be new."""
    for other in FAMILIES.values():
        clash = [what for what in ("id", "colour", "marker") if getattr(other, what) == getattr(family, what)]
        if clash:
            raise ValueError(f"family {family.id!r} has the same {' and '.join(clash)} as {other.id!r}")
    FAMILIES[family.id] = family
    return family


for _family in (
    Family("gan", "GAN reversal", GAN, "bits per latent dimension", "#d62728", "o", "{} bits", ", "),
    Family("gan_search", "GAN reversal, seed's search", GAN, "bits per latent dimension", "#ff9896", "8", "{} bits",
           ", "),
    Family("gan_encoder", "GAN reversal, encoder only", GAN, "bits per latent dimension", "#c49c94", "d", "{} bits",
           ", "),
    Family("png", "PNG", CLASSICAL, None, "#7f7f7f", "P"),
    Family("kmeans", "K-means", CLASSICAL, "K", "#e377c2", "X", "K={}", ", "),
    Family("jpeg", "JPEG", CLASSICAL, "quality", "#1f77b4", "s", "q={}"),
    Family("webp", "WebP", CLASSICAL, "quality", "#2ca02c", "^", "q={}"),
    Family("j2k", "JPEG 2000", CLASSICAL, "target PSNR in dB", "#9467bd", "D", "({} dB)"),
    Family("avif", "AVIF", CLASSICAL, "quality", "#8c564b", "v", "q={}"),
    Family("factorized", "learned: factorized prior", LEARNED, "λ", "#ff7f0e", "<", "λ={:g}", ", "),
    Family("hyperprior", "learned: scale hyperprior", LEARNED, "λ", "#17becf", ">", "λ={:g}", ", "),
    Family("factorized_ssim", "learned: factorized prior, SSIM-trained", LEARNED, "λ", "#ffbb78", "4", "λ={:g}", ", "),
    Family("hyperprior_ssim", "learned: scale hyperprior, SSIM-trained", LEARNED, "λ", "#9edae5", "3", "λ={:g}",
           ", "),
    Family("gan_residual", "GAN + learned residual", LAYERED, "λ", "#8b0000", "*", "λ={:g}", ", "),
    Family("gan_residual_webp", "GAN + WebP residual", LAYERED, "WebP quality of the residual", "#bcbd22", "h",
           "q={}"),
):
    register(_family)

# The seed report's schemes, in its order (the summary table's rows).
SUMMARY: dict[str, Scheme] = {s.id: s for s in (
    Scheme("gan", "gan", None, "GAN reversal, command line's mode"),
    Scheme("gan_search", "gan_search", None, "GAN reversal, seed's search"),
    Scheme("png", "png", None, "PNG (lossless)"),
    Scheme("kmeans4", "kmeans", 4, "K-means, K=4"),
    Scheme("jpeg10", "jpeg", 10, "JPEG q=10"),
    Scheme("jpeg1", "jpeg", 1, "JPEG q=1"),
    Scheme("webp0", "webp", 0, "WebP q=0"),
)}


def family(family_id: str) -> Family:
    """The registered family ``family_id``; ValueError listing the ids otherwise."""
    if family_id not in FAMILIES:
        raise ValueError(f"codec={family_id!r} is not allowed; choose one of: {', '.join(FAMILIES)}")
    return FAMILIES[family_id]


def of_kind(kind: str) -> list[Family]:
    """The families of one kind (GAN, CLASSICAL, LEARNED or LAYERED), in codec order."""
    return [f for f in FAMILIES.values() if f.kind == kind]


def scheme(scheme_id: str) -> Scheme:
    """One of the seed report's schemes by id (``jpeg1``)."""
    if scheme_id not in SUMMARY:
        raise ValueError(f"scheme={scheme_id!r} is not allowed; choose one of: {', '.join(SUMMARY)}")
    return SUMMARY[scheme_id]


def scheme_id(family_id: str, param=None) -> str:
    """The id a family at a setting is written as in rd.csv's ``scheme`` column: ``jpeg1``,
    ``factorized0.01``, ``png`` (no parameter); GAN reversal is ``gan`` (``gan_search``, ...) at any bit depth."""
    if is_gan(family_id) or param is None or (isinstance(param, float) and math.isnan(param)):
        return family_id
    return f"{family_id}{param:g}"


def is_gan(family_id: str) -> bool:
    """Whether ``family_id`` is one of GAN reversal's modes (kind :data:`GAN`)."""
    return family_id in FAMILIES and FAMILIES[family_id].kind == GAN


def label(family_id: str, param=None) -> str:
    """Display name of a family, or of a family at a setting: ``JPEG``, ``JPEG q=1``."""
    return family(family_id).name(param)


def order(ids: Iterable[str]) -> list[str]:
    """``ids`` (family ids) in codec order; unknown ids last, sorted."""
    ids = list(dict.fromkeys(ids))
    return [f for f in FAMILIES if f in ids] + sorted(i for i in ids if i not in FAMILIES)


def rank(family_id: str) -> int:
    """Position of a family in the codec order (unknown ids after all known ones)."""
    return list(FAMILIES).index(family_id) if family_id in FAMILIES else len(FAMILIES)
