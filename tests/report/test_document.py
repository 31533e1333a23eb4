import base64
import io
import math
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from ganlib.evaluation import analysis  # noqa: E402
from ganlib.report import document  # noqa: E402


def text_of(page: str) -> str:
    """The page without embedded images (base64 can hold any three letters)."""
    return re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", "", page)


@pytest.fixture
def executed(tmp_path):
    """A small 'executed' notebook like 05_results: title, contents marker, sections, outputs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "ganlib", "display_name": "Python (ganlib)", "language": "python"}
    params = nbformat.v4.new_code_cell('profile = "default"  # the run', metadata={"tags": ["parameters"]})
    injected = nbformat.v4.new_code_cell('profile = "smoke"', metadata={"tags": ["injected-parameters"]})
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([1, 2], [3, 4])
    figure = document.figure_html(fig, "a caption", "Figure 1.")
    plt.close(fig)
    out = nbformat.v4.new_code_cell("import numpy as np\nshow()", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="wrote runs/smoke/x.csv\n"),
        nbformat.v4.new_output("display_data", data={"text/html": figure, "text/plain": "<HTML>"})])
    nb.cells = [nbformat.v4.new_markdown_cell(f"# Results of the thing\nIntro.\n\n{document.TOC_MARKER}"), params,
                injected, nbformat.v4.new_markdown_cell("## Verdict\ntext"), out,
                nbformat.v4.new_markdown_cell("## Appendix\n### Environment\nmore")]
    path = tmp_path / "smoke" / "05_results.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("hide_code", [True, False])
def test_pages_are_self_contained_with_a_title_and_contents(executed, hide_code):
    page = document.render(executed, executed.with_suffix(".html"), hide_code=hide_code).read_text()
    assert "<script src" not in page and 'rel="stylesheet"' not in page and "<link" not in page
    assert "require.js" not in page and "mathjax" not in page.lower() and "mermaid" not in page.lower()
    assert not re.search(r"https?://", text_of(page))  # nothing fetched
    title = re.search(r"<title>(.*?)</title>", page).group(1)
    assert title.startswith("Results of the thing") and "smoke" in title and title != "Notebook"
    toc = re.search(r'<nav id="contents".*?</nav>', page, re.S).group(0)
    assert re.findall(r'href="#([^"]+)"', toc) == ["Verdict", "Appendix", "Environment"]
    assert 'id="Verdict"' in page and "wrote runs/smoke/x.csv" in page and "Figure 1." in page
    plain = re.sub(r"<[^>]+>", "", page)
    assert ("import numpy as np" in plain) is not hide_code
    assert ("profile = &quot;smoke&quot;" in plain or 'profile = "smoke"' in plain) is not hide_code  # injected
    assert len(page) < 60_000


def test_render_dir(executed):
    (executed.parent / "01_data.ipynb").write_text(executed.read_text())
    out = document.render_dir(executed.parent)
    assert out.name == "report.html" and (executed.parent / "01_data.html").is_file()
    assert (executed.parent / "05_results.html").is_file()
    with pytest.raises(FileNotFoundError, match="written by notebooks/05_results.ipynb"):
        document.render_dir(executed.parent / "nothing")
    assert document.main([str(executed.parent / "nothing")]) == 2


def test_anchor_is_nbconvert_s_heading_id():
    from nbconvert.filters.strings import _convert_header_id

    for heading in ["Seen versus unseen images at equal loss", "Rate–distortion curves", "Quality at GAN's rate"]:
        assert document.anchor(heading) == _convert_header_id(heading)


def test_table_cells_missing_infinite_and_footnotes():
    frame = pd.DataFrame({"codec": ["gan", "png", "jpeg"], "ssim": [0.84999, np.nan, np.nan],
                          "ssim_note": [None, "lossless", "no-overlap"], "psnr": [20.7234, math.inf, -1.5]})
    page = document.table_html(frame, {"Codec": ("codec", "{}"), "SSIM": ("ssim", "{:.3f}", "ssim_note"),
                                     "PSNR": ("psnr", "{:.2f}")}, "What it shows.", "Table 1.")
    assert "<td class=\"num\">0.850</td>" in page and "<td class=\"num\">20.72</td>" in page
    assert "—<sup>a</sup>" in page and "—<sup>b</sup>" in page and "∞" in page and "−1.50" in page
    assert f"<sup>a</sup> —: {analysis.NOTES['lossless']}." in page
    assert f"<sup>b</sup> —: {analysis.NOTES['no-overlap']}." in page
    assert '<span class="label">Table 1.</span> What it shows.' in page
    assert page.index("<caption>") < page.index("<thead>")  # shown under the table by the stylesheet
    assert not re.search(r"\bnan\b", page, re.I)


def test_table_groups_and_row_functions():
    frame = pd.DataFrame({"split": ["unseen", "unseen", "seen"], "x": [1, 2, 3]})
    page = document.table_html(frame, {"x": ("x", "{:d}"), "twice": (lambda r: 2 * r.x, "{:d}")},
                             group="split", group_names=document.SPLIT_NAMES)
    assert page.count('<tr class="group">') == 2 and page.index("Unseen images") < page.index("Seen images")
    assert "<td class=\"num\">6</td>" in page


def test_report_table_columns_format_analysis_tables():
    controlled = pd.DataFrame([{"mode": "hybrid", "loss": "ssim", "metric": "ssim", "n_seen": 8, "n_unseen": 8,
                                "seen": 0.8601, "seen_ci95": 0.0123, "unseen": 0.84999, "unseen_ci95": 0.011,
                                "diff": 0.0101, "diff_lo": -0.022, "diff_hi": 0.041, "p": 0.5432},
                               {"mode": "hybrid", "loss": "ssim", "metric": "psnr", "n_seen": 8, "n_unseen": 8,
                                "seen": 21.234, "seen_ci95": 0.5, "unseen": 20.71, "unseen_ci95": 0.4, "diff": 0.524,
                                "diff_lo": -0.8, "diff_hi": 1.9, "p": 0.71}])
    page = document.table_html(controlled, document.EQUAL_LOSS_COLUMNS)
    for text in ["Command line", "0.860", "0.850", "+0.010", "-0.022 to +0.041", "0.54", "21.23", "+0.52",
                 "PSNR (dB)"]:
        assert text in page, text
    summary = pd.DataFrame([{"split": "unseen", "scheme": "gan", "n_images": 2000, "bpp": 0.78061, "bpp_ci95": 0.004,
                             "cr": 10.2516, "psnr": 20.7232, "psnr_ci95": 0.21, "mse": 725.64, "ssim": 0.84999,
                             "ssim_ci95": 0.0121},
                            {"split": "unseen", "scheme": "png", "n_images": 2000, "bpp": 5.1768, "bpp_ci95": 0.03,
                             "cr": 1.611, "psnr": math.inf, "psnr_ci95": np.nan, "mse": 0.0, "ssim": 1.0,
                             "ssim_ci95": 0.0}])
    page = document.table_html(summary, document.summary_columns(8))
    for text in ["GAN reversal, command line", "PNG (lossless)", "2000", "0.781", "10.25", "20.72",
                 "725.6", "0.850", "0.012", "∞"]:
        assert text in page, text
    bd = pd.DataFrame([{"split": "unseen", "codec": "jpeg", "ssim": -83.0237, "ssim_note": None, "psnr": np.nan,
                        "psnr_note": "no-overlap"}])
    page = document.table_html(bd, document.bd_rate_columns(["ssim", "psnr"]))
    assert "−83.0" in page and "JPEG" in page and "—<sup>a</sup>" in page


def test_figure_html_is_2x_and_captioned():
    fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
    ax.plot([0, 1], [0, 1], label="x")
    page = document.figure_html(fig, "It shows *this* with `code`.", "Figure 2.")
    plt.close(fig)
    png = base64.b64decode(re.search(r"base64,([^\"]+)\"", page).group(1))
    width = int(re.search(r'width="(\d+)"', page).group(1))
    assert Image.open(io.BytesIO(png)).width == pytest.approx(2 * width, abs=2)
    assert "<figcaption><span class=\"label\">Figure 2.</span> It shows <em>this</em> with <code>code</code>." in page


def test_document_numbers_figures_and_tables(monkeypatch):
    shown = []
    monkeypatch.setattr(document, "_display_html", shown.append)
    doc = document.Document()
    for _ in range(2):
        fig, _ = plt.subplots(figsize=(2, 2))
        doc.figure(fig, "a figure")
    doc.table(pd.DataFrame({"a": [1]}), {"A": ("a", "{:d}")}, "a table")
    assert ["Figure 1." in shown[0], "Figure 2." in shown[1], "Table 1." in shown[2]] == [True] * 3
    assert plt.get_fignums() == []  # shown figures are closed


def test_verdicts_html():
    verdicts = [analysis.Verdict(analysis.CLAIM_RATE, analysis.HOLDS, ["SSIM `0.850` against 0.664."],
                                 ["The answer in one figure"]),
                analysis.Verdict(analysis.CLAIM_SEEN, analysis.FAILS, ["no difference"],
                                 ["Seen versus unseen images at equal loss"])]
    page = document.verdicts_html(verdicts)
    assert page.index("Claim 1") < page.index("Holds") < page.index("Claim 2") < page.index("Does not hold")
    assert '<a href="#Seen-versus-unseen-images-at-equal-loss">' in page and "<code>0.850</code>" in page
    assert 'class="verdict holds"' in page and 'class="verdict fails"' in page


def test_markdown_tables_from_summary(tmp_path):
    path = tmp_path / "summary.csv"
    pd.DataFrame([{"split": "unseen", "scheme": "gan", "n_images": 2000, "bpp": 0.78, "bpp_ci95": 0.004, "cr": 10.25,
                   "psnr": 20.72, "psnr_ci95": 0.21, "mse": 725.6, "ssim": 0.85, "ssim_ci95": 0.012},
                  {"split": "unseen", "scheme": "gan_search", "n_images": 64, "bpp": 0.78, "bpp_ci95": 0.01,
                   "cr": 10.25, "psnr": 20.9, "psnr_ci95": 0.5, "mse": 700.1, "ssim": 0.86, "ssim_ci95": 0.02},
                  {"split": "unseen", "scheme": "png", "n_images": 2000, "bpp": 5.18, "bpp_ci95": 0.03, "cr": 1.61,
                   "psnr": math.inf, "psnr_ci95": np.nan, "mse": 0.0, "ssim": 1.0, "ssim_ci95": 0.0}
                  ]).to_csv(path, index=False)
    assert document.markdown_tables(path).splitlines() == [
        "**Unseen images** (means with their 95% confidence half-widths)", "",
        "| Scheme | Images | BPP | CR | PSNR (dB) | MSE | SSIM |", "|---|---:|---:|---:|---:|---:|---:|",
        "| GAN reversal, command line's mode | 2000 | 0.780 ± 0.004 | 10.25 | 20.72 ± 0.21 | 725.6 | 0.850 ± 0.012 |",
        "| GAN reversal, seed's search | 64 | 0.780 ± 0.010 | 10.25 | 20.90 ± 0.50 | 700.1 | 0.860 ± 0.020 |",
        "| PNG (lossless) | 2000 | 5.180 ± 0.030 | 1.61 | ∞ | 0.0 | 1.000 ± 0.000 |"]


def test_speed_rows_are_labelled_with_their_parameter_and_avif_s_encoder_speed():
    rows = pd.DataFrame({"codec": ["jpeg", "png", "avif", "gan", "gan_ladder"],
                         "mode": ["1", "", "0, speed 6", "hybrid", "target ssim>=0.9"]})
    assert [document._speed_label(r) for _, r in rows.iterrows()] == [
        "JPEG q=1", "PNG", "AVIF q=0, speed 6", "GAN reversal, hybrid",
        "GAN reversal's ladder, compress --target ssim>=0.9"]
