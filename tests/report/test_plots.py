import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from ganlib.codecs import families  # noqa: E402
from ganlib.evaluation import (
    analysis,  # noqa: E402
    )
from ganlib.report import plots  # noqa: E402

# FIXME import schemes  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def curves():
    rows = []
    for split in ("unseen", "seen"):
        for codec, points in {"jpeg": [(1, 2.0, 0.66, 18.4), (10, 2.5, 0.80, 21.9)], "gan": [(4, 0.4, 0.8, 20.0),
                              (8, 0.78, 0.85, 20.7)], "png": [(np.nan, 5.2, 1.0, math.inf)],
                              "factorized": [(0.01, 0.8, 0.77, 22.0)]}.items():
            rows += [{"split": split, "codec": codec, "param": p, "bpp": b, "payload_bpp": b / 2, "ssim": q, "psnr": d}
                     for p, b, q, d in points]
    return pd.DataFrame(rows)


def test_style_sets_a_legible_2x_look():
    plots.style()
    assert plt.rcParams["legend.fontsize"] >= 10 and plt.rcParams["savefig.dpi"] == 2 * plt.rcParams["figure.dpi"]


def test_rd_figure_draws_each_codec_with_its_registry_style(curves):
    fig = plots.rd_figure(curves, "The title", quality=["ssim", "psnr"], marks=analysis.seed_marks(8))
    assert fig._suptitle.get_text() == "The title"
    axes = fig.axes
    assert len(axes) == 4 and [a.get_title() for a in axes] == ["unseen images", "seen images"] * 2
    legend = fig.legends[0]
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ["GAN reversal", "PNG", "JPEG", "learned: factorized prior", "the seed's operating points"]
    for line, label in zip(legend.get_lines(), labels[:-1]):
        family = next(f for f in families.FAMILIES.values() if f.label == label)
        assert line.get_color() == family.colour and line.get_marker() == family.marker
    ssim = axes[0]
    assert all(a.get_xscale() == "log" for a in axes)
    assert any(t.get_text() == "JPEG q=1" for t in ssim.texts) and any(t.get_text() == "GAN 8 bits" for t in ssim.texts)
    psnr_lines = axes[2].get_lines()  # PNG's infinite PSNR is not drawn
    assert all(np.isfinite(line.get_ydata()).all() for line in psnr_lines)
    assert not any(line.get_color() == families.family("png").colour for line in psnr_lines)


def test_refinement_and_bit_error_figures():
    effect = pd.DataFrame({"split": ["unseen", "unseen", "seen", "seen"], "bits": [4, 8, 4, 8],
                           "float": [0.85] * 4, "rounded": [0.7, 0.84, 0.7, 0.83], "refined": [0.8, 0.85, 0.79, 0.84]})
    fig = plots.refinement_figure(effect, "Refinement", losses={"unseen": "ssim", "seen": "mse"})
    assert fig.axes[0].get_title() == "unseen images (loss ssim)" and len(fig.axes[0].get_lines()) == 3
    cases = [analysis.BitErrorCase("GAN reversal (as written)", "gan", None, None, []),
             analysis.BitErrorCase("GAN reversal (fixed-length)", "gan", None, None, [], fixed_length=True),
             analysis.BitErrorCase("JPEG q=1", "jpeg", None, None, [])]
    summary = pd.DataFrame([{"scheme": c.label, "ber": b, "ssim": 0.5, "failure_rate": 0.1}
                            for c in cases for b in (1e-3, 1e-2)])
    fig = plots.bit_error_figure(summary, cases, "Bit errors")
    lines = fig.axes[0].get_lines()
    assert [line.get_color() for line in lines] == [families.family(f).colour for f in ("gan", "gan", "jpeg")]
    assert lines[1].get_linestyle() == "--" and lines[2].get_marker() == families.family("jpeg").marker


def test_comparison_grid_heads_each_column_with_rate_and_ssim():
    images = np.zeros((2, 28, 28, 1), np.uint8)
    columns = [{"label": "JPEG q=1", "bpp": 2.0349, "ssim": 0.6642, "images": images},
               {"label": "learned: factorized prior, λ=0.0018", "bpp": 0.78, "ssim": 0.765, "images": images}]
    fig = plots.comparison_grid(images, columns, "Side by side")
    heads = [ax.get_title() for ax in fig.axes[:3]]
    assert heads[0] == "original\n8 bpp (raw)"
    assert heads[1] == "JPEG q=1\n2.03 bpp · SSIM 0.66"
    assert heads[2].endswith("0.78 bpp · SSIM 0.77") and "factorized" in heads[2]
    assert len(fig.axes) == 2 * 3


def test_family_style():
    assert plots.family_style("gan")["lw"] > plots.family_style("jpeg")["lw"]
    assert plots.family_style("unknown")["marker"] == "."


def test_quality_speed_figure_has_a_panel_per_metric_and_a_line_per_kind_and_split():
    from ganlib.evaluation import tradeoff

    rows = pd.DataFrame([{"split": s, "mode": m, "optimizer": o, "label": lab, "steps": k, "restarts": r,
                          "image_id": 0, "encode_ms": ms, "bpp": 0.5, "psnr": 20.0 + k / 100, "ssim": 0.7 + k / 10000}
                         for s in ("unseen", "seen")
                         for m, o, lab, k, r, ms in (("encoder", "lbfgs", "encoder only", 0, 1, 1.0),
                                                     ("hybrid", "lbfgs", "encoder + 30 L-BFGS steps", 30, 1, 20.0),
                                                     ("search", "adam", "search 1000 x 4", 1000, 4, 500.0))])
    fig = plots.quality_speed(tradeoff.summarize(rows), "t")
    assert len(fig.axes) == 2 and all(len(ax.lines) == 4 for ax in fig.axes)  # 2 kinds x 2 splits
    assert fig.axes[0].lines[0].get_xdata().tolist() == [1.0, 20.0]  # the L-BFGS line starts at the encoder alone
    assert fig.axes[0].get_xscale() == "log"
