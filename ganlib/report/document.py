"""The report: HTML pages rendered from the executed notebooks, and the pieces 05_results shows.

``python -m ganlib.report DIR`` renders every ``*.ipynb`` in DIR (``reports/<profile>/``) to
HTML with its code, and ``05_results.ipynb`` a second time as ``report.html`` with code hidden
and papermill's injected-parameters cell removed. Every page is self-contained and opens
offline: nbconvert's ``lab`` template without require.js, MathJax, mermaid or widget scripts,
and with a small stylesheet of its own instead of JupyterLab's (no ``<script src>``, no
``<link rel=stylesheet>``); a real ``<title>``; a table of contents where the notebook asks for
one (a markdown cell holding :data:`TOC_MARKER`).

For the notebooks: :class:`Document` numbers and displays figures and tables with a caption
under each; :func:`table_html` formats a table (missing values as "—" with a footnote saying
why, infinities as "∞"); :func:`verdicts_html` shows the verdicts on the seed's claims;
:func:`markdown_tables` writes the README's results tables from summary.csv.

``python -m ganlib.report DIR --readme README.md --results docs/results.md`` renders nothing and
instead rewrites the generated blocks of the README (:data:`README_BLOCKS`) and of the results
page (:data:`RESULTS_BLOCKS`, and the capacity study's from ``reports/study/``) from DIR's files
(:func:`readme_blocks`, :func:`update_readme`).
"""
from __future__ import annotations

import argparse
import base64
import html
import io
import json
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

import matplotlib.pyplot as plt
import nbformat
import pandas as pd
from IPython.display import HTML, display
from jinja2 import DictLoader
from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor
from PIL import Image
from traitlets.config import Config

from ganlib.codecs import families
from ganlib.core import files
from ganlib.evaluation import analysis, realism

RESULTS = "05_results.ipynb"
PROJECT = "GAN reversal image compression"
TOC_MARKER = '<nav id="contents"></nav>'
MISSING = "—"

# ------------------------------------------------------------------ the page template
TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block notebook_css -%}
<style type="text/css">
{{ resources.ganlib_css }}
</style>
{%- endblock notebook_css -%}
"""

CSS = """
:root { --text: #1d1d1f; --muted: #5b5b66; --rule: #d9d9e0; --code: #f6f6f8; --accent: #b51f1f; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: #fff; color: var(--text);
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.9em; line-height: 1.2; margin: 0.4em 0 0.5em; }
h2 { font-size: 1.4em; margin: 1.8em 0 0.5em; padding-top: 0.4em; border-top: 1px solid var(--rule); }
h3 { font-size: 1.15em; margin: 1.4em 0 0.4em; }
p, li { max-width: 52em; }
a { color: #1a5fb4; }
a.anchor-link { display: none; }
code, pre, kbd { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  font-size: 0.88em; }
p code, li code, td code { background: var(--code); padding: 0.05em 0.3em; border-radius: 3px; }
.jp-Cell { margin: 0; padding: 0; }
.jp-Cell-inputWrapper, .jp-Cell-outputWrapper { display: flex; gap: 8px; }
.jp-Collapser { display: none; }
.jp-InputPrompt, .jp-OutputPrompt { flex: 0 0 5.5em; color: var(--muted); font: 12px/1.5 ui-monospace, monospace;
  text-align: right; padding-top: 0.55em; }
.jp-InputArea, .jp-OutputArea, .jp-OutputArea-child { display: flex; flex: 1 1 auto; min-width: 0; gap: 8px; }
.jp-OutputArea { flex-direction: column; }
.jp-InputArea-editor { flex: 1 1 auto; min-width: 0; background: var(--code); border: 1px solid var(--rule);
  border-radius: 4px; margin: 6px 0; overflow-x: auto; }
.jp-InputArea-editor pre { margin: 0; padding: 8px 10px; line-height: 1.45; }
.jp-OutputArea-output { flex: 1 1 auto; min-width: 0; overflow-x: auto; margin: 4px 0; }
.jp-RenderedText pre { margin: 0; padding: 4px 0; white-space: pre-wrap; line-height: 1.4; }
.jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr'] { background: #fff3f3; padding: 2px 8px; }
.jp-RenderedImage img, figure img { max-width: 100%; height: auto; }
.jp-RenderedMarkdown { padding: 0; flex: 1 1 auto; min-width: 0; }
table { border-collapse: collapse; margin: 0.6em 0 0.4em; font-size: 0.92em; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: baseline; }
sup { line-height: 0; font-size: 0.75em; }
thead th { border-bottom: 2px solid #999; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.group th { background: #f0f0f4; text-align: left; font-weight: 600; }
table.dataframe { border: none; }
caption { caption-side: bottom; text-align: left; color: var(--text); font-size: 0.95em; padding-top: 0.5em;
  max-width: 52em; }
caption .notes { color: var(--muted); font-size: 0.92em; margin-top: 0.3em; }
figure { margin: 0.8em 0 1.4em; }
figcaption { max-width: 52em; font-size: 0.95em; margin-top: 0.3em; }
.label { font-weight: 700; }
nav#contents, nav.contents { background: #fafafc; border: 1px solid var(--rule); border-radius: 6px;
  padding: 0.6em 1.2em; margin: 1em 0 1.5em; max-width: 40em; }
nav#contents ol, nav.contents ol { margin: 0.3em 0; padding-left: 1.4em; }
nav .toc-title { font-weight: 700; }
.verdicts { display: grid; gap: 14px; margin: 0.6em 0 1em; }
.verdict { border: 1px solid var(--rule); border-left: 6px solid var(--muted); border-radius: 6px;
  padding: 0.6em 1.1em; }
.verdict.holds { border-left-color: #2e7d32; }
.verdict.fails { border-left-color: var(--accent); }
.verdict.partly { border-left-color: #e0a100; }
.verdict .claim { font-weight: 600; margin: 0.2em 0; }
.verdict .status { font-size: 1.1em; font-weight: 700; margin: 0.2em 0 0.4em; }
.verdict.holds .status { color: #2e7d32; }
.verdict.fails .status { color: var(--accent); }
.verdict.partly .status { color: #9a6b00; }
.verdict ul { margin: 0.2em 0 0.4em; padding-left: 1.2em; }
.verdict .see { color: var(--muted); font-size: 0.92em; margin: 0.2em 0; }
@media print { main { max-width: none; } h2 { break-after: avoid; } figure, table { break-inside: avoid; } }
"""


def _title(nb, profile: str, report: bool, stem: str = "") -> str:
    """The page title: the notebook's first heading, the page's name, the profile and the project."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if m:
                heading = m.group(1).strip()
                break
    else:
        heading = "notebook"
    if report:
        return f"{heading} (profile {profile})"
    project = "" if PROJECT in heading else f" · {PROJECT}"
    return f"{heading} · {stem}, profile {profile}{project}" if stem else f"{heading} · profile {profile}{project}"


def exporter(hide_code: bool) -> HTMLExporter:
    """nbconvert's ``lab`` HTML exporter with this module's template: no external scripts or
    stylesheets. ``hide_code`` drops inputs, prompts, the parameters and injected-parameters
    cells."""
    config = Config()
    config.TagRemovePreprocessor.remove_cell_tags = ("injected-parameters", "parameters") if hide_code else ()
    exp = HTMLExporter(config=config, template_name="lab", template_file="ganlib.html.j2",
                       extra_loaders=[DictLoader({"ganlib.html.j2": TEMPLATE})], exclude_input=hide_code,
                       exclude_input_prompt=hide_code, exclude_output_prompt=hide_code)
    exp.register_preprocessor(TagRemovePreprocessor(config=config), enabled=True)
    return exp


def render(notebook: Path, out: Path, hide_code: bool, profile: str | None = None) -> Path:
    """Write ``notebook`` as HTML to ``out`` (atomically). ``hide_code`` drops inputs,
    prompts and the parameters cells."""
    nb = nbformat.read(notebook, as_version=4)
    profile = profile or Path(notebook).parent.name
    nb.metadata["title"] = _title(nb, profile, report=hide_code, stem="" if hide_code else Path(notebook).stem)
    body, _ = exporter(hide_code).from_notebook_node(nb, resources={"ganlib_css": CSS})
    files.write_text(out, add_contents(body))
    return out


def render_dir(directory: str | Path) -> Path:
    """Render all executed notebooks in ``directory``; return the path of report.html."""
    directory = Path(directory)
    results = directory / RESULTS
    if not results.is_file():
        raise FileNotFoundError(f"{results} is missing: it is written by notebooks/05_results.ipynb (make results)")
    for nb in sorted(directory.glob("*.ipynb")):
        render(nb, nb.with_suffix(".html"), hide_code=False)
    return render(results, directory / "report.html", hide_code=True)


_HEADING = re.compile(r'<h([23]) id="([^"]+)"[^>]*>(.*?)</h\1>', re.S)


def add_contents(page: str) -> str:
    """Fill the :data:`TOC_MARKER` of a rendered page with a table of contents of its level-2
    headings (level-3 ones nested under them); pages without the marker are returned as they are."""
    if TOC_MARKER not in page:
        return page
    items: list[tuple[str, str, list]] = []
    for level, anchor, inner in _HEADING.findall(page):
        text = html.escape(html.unescape(re.sub(r"<[^>]+>", "", re.sub(r'<a class="anchor-link".*?</a>', "", inner))))
        if level == "2":
            items.append((anchor, text, []))
        elif items:
            items[-1][2].append((anchor, text))
    lines = ['<nav id="contents" aria-label="Contents"><div class="toc-title">Contents</div><ol>']
    for anchor, text, subs in items:
        sub = "".join(f'<li><a href="#{a}">{t}</a></li>' for a, t in subs)
        lines.append(f'<li><a href="#{anchor}">{text}</a>' + (f"<ol>{sub}</ol>" if sub else "") + "</li>")
    lines.append("</ol></nav>")
    return page.replace(TOC_MARKER, "".join(lines), 1)


def anchor(heading: str) -> str:
    """The id nbconvert gives a markdown heading (spaces become hyphens, URL-quoted)."""

    return quote(heading.replace(" ", "-"), safe="?/:@!$&'()*+,;=")


# ------------------------------------------------------------------ tables
Format = str | Callable[[float], str]


def cell(value, spec: Format = "{}", note: str | None = None, marks: Mapping[str, str] | None = None) -> str:
    """One formatted cell: NaN/None as "—" (with the footnote mark of ``note``), ±inf as "∞".
    The format ``"html"`` passes the value through as HTML (for links)."""
    if spec == "html":
        return str(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        mark = f"<sup>{marks[note]}</sup>" if note and marks and note in marks else ""
        return MISSING + mark
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    text = spec(value) if callable(spec) else spec.format(value)
    return html.escape(text).replace("-", "−") if _numeric(value) else html.escape(text)


def _numeric(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def table_html(frame, columns: Mapping[str, tuple], caption: str = "", label: str = "",
               notes: Mapping[str, str] | None = None, group: str | None = None,
               group_names: Mapping[str, str] | None = None) -> str:
    """An HTML table of ``frame``. ``columns`` maps each header to ``(value, format)`` or
    ``(value, format, note_column)``: ``value`` is a column name or a function of the row, the
    cell is ``format``\\ ted (a ``str.format`` spec or a function), and where it is missing
    (NaN) the note column holds why (a key of ``notes``, by default
    :data:`ganlib.evaluation.analysis.NOTES`), printed as "—" with a footnote under the table. ``group``:
    a column whose value starts a new block of rows (e.g. the split), shown as a row of its own.
    The caption (``label`` in bold first) goes under the table."""
    notes = analysis.NOTES if notes is None else notes
    rows = [row for _, row in frame.iterrows()]
    values = {h: [spec[0](r) if callable(spec[0]) else r[spec[0]] for r in rows] for h, spec in columns.items()}
    marks: dict[str, str] = {}
    for h, spec in columns.items():
        for r, value in zip(rows, values[h]):
            key = r.get(spec[2]) if len(spec) > 2 else None
            if isinstance(key, str) and key not in marks and _missing(value):
                marks[key] = "abcdefghijklmnopqrstuvwxyz"[len(marks)]
    numeric = {h: all(_numeric(v) or _missing(v) for v in values[h]) for h in columns}
    head = "".join(f'<th class="num">{html.escape(h)}</th>' if numeric[h] else f"<th>{html.escape(h)}</th>"
                   for h in columns)
    body, current = [], object()
    for i, r in enumerate(rows):
        if group and r[group] != current:
            current = r[group]
            name = (group_names or {}).get(current, str(current))
            body.append(f'<tr class="group"><th colspan="{len(columns)}">{html.escape(name)}</th></tr>')
        cells = []
        for h, spec in columns.items():
            note = r.get(spec[2]) if len(spec) > 2 else None
            text = cell(values[h][i], spec[1], note if isinstance(note, str) else None, marks)
            cells.append(f'<td class="num">{text}</td>' if numeric[h] else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    foot = "".join(f"<div><sup>{m}</sup> {MISSING}: {html.escape(notes.get(k, k))}.</div>" for k, m in marks.items())
    lead = f'<span class="label">{html.escape(label)}</span> ' if label else ""
    cap = f"<caption>{lead}{inline(caption)}" + (f'<div class="notes">{foot}</div>' if foot else "") + "</caption>"
    thead = f"<thead><tr>{head}</tr></thead>" if any(h.strip() for h in columns) else ""
    return f"<table>{cap if (caption or label or foot) else ''}{thead}<tbody>{''.join(body)}</tbody></table>"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def inline(text: str) -> str:
    """Escape ``text`` for HTML, with `code`, **bold** and *italic* as in markdown."""
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", out)


# ------------------------------------------------------------------ figures
def figure_html(fig, caption: str = "", label: str = "", alt: str = "", exact: bool = False) -> str:
    """A matplotlib figure as an HTML ``<figure>``: a PNG at twice the figure's dpi (so it stays
    sharp on high-density screens), shown at its 1x size, with the caption under it. Unless
    ``exact``, the PNG is reduced to a 256-colour palette (no dithering), which keeps charts
    visually identical at a third of the bytes; ``exact`` keeps every pixel (image grids)."""

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=2 * fig.dpi, bbox_inches="tight", facecolor="white")
    image = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    if not exact:
        image = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    title = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) else ""
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    lead = f'<span class="label">{html.escape(label)}</span> ' if label else ""
    cap = f"<figcaption>{lead}{inline(caption)}</figcaption>" if caption or label else ""
    return (f'<figure><img src="data:image/png;base64,{data}" width="{round(image.width / 2)}" '
            f'alt="{html.escape(alt or title or caption, quote=True)}">{cap}</figure>')


class Document:
    """Numbers the figures and tables of a notebook and displays each with its caption under it:
    ``doc.figure(fig, "caption")`` shows "Figure 1. caption" (and closes the figure),
    ``doc.table(frame, columns, "caption")`` "Table 1. caption" (see :func:`table_html`)."""

    def __init__(self):
        self.figures = 0
        self.tables = 0

    def figure(self, fig, caption: str, exact: bool = False) -> None:

        self.figures += 1
        _display_html(figure_html(fig, caption, f"Figure {self.figures}.", exact=exact))
        plt.close(fig)

    def table(self, frame, columns: Mapping[str, tuple], caption: str, **kwargs) -> None:
        self.tables += 1
        _display_html(table_html(frame, columns, caption, f"Table {self.tables}.", **kwargs))


def _display_html(text: str) -> None:

    display(HTML(text))


# ------------------------------------------------------------------ the report's tables
SPLIT_NAMES = {"unseen": "Unseen images", "seen": "Seen images"}
DIGITS = {"ssim": 3, "ms_ssim": 3, "psnr": 2}  # decimals of each quality metric in tables


def _by_metric(column: str, signed: bool = False) -> Callable:
    """A cell function: the row's ``column`` with the decimals of the row's metric."""
    def value(row):
        v = row[column]
        return v if _missing(v) else f"{v:{'+' if signed else ''}.{DIGITS.get(row.metric, 3)}f}"
    return value


def _ci(row) -> str:
    d = DIGITS.get(row.metric, 3)
    return f"{row.diff_lo:+.{d}f} to {row.diff_hi:+.{d}f}"


def _scheme_label(gan_bits: int) -> Callable:
    def label(row):
        name = families.scheme(row.scheme).label
        return f"{name} ({gan_bits}-bit z)" if families.is_gan(row.scheme) else name
    return label


def _interval(lo: str, hi: str, spec: str = "{:+.1f}") -> Callable:
    """A cell function: "lo to hi" of the row's columns ``lo`` and ``hi`` ("—" when missing)."""
    def value(row):
        a, b = row.get(lo), row.get(hi)
        return MISSING if _missing(a) or _missing(b) else f"{spec.format(a)} to {spec.format(b)}"
    return value


def _family_label(row) -> str:
    return families.label(row.codec) if row.codec in families.FAMILIES else row.codec


def summary_columns(gan_bits: int) -> dict[str, tuple]:
    """Columns of the summary tables (the seed's schemes, :func:`ganlib.evaluation.analysis.summary`)."""
    return {"Scheme": (_scheme_label(gan_bits), "{}"), "Images": ("n_images", "{:d}"), "BPP": ("bpp", "{:.3f}"),
            "±": ("bpp_ci95", "{:.3f}"), "CR": ("cr", "{:.2f}"), "PSNR (dB)": ("psnr", "{:.2f}"),
            "± ": ("psnr_ci95", "{:.2f}"), "MSE": ("mse", "{:.1f}"), "SSIM": ("ssim", "{:.3f}"),
            "±  ": ("ssim_ci95", "{:.3f}")}


EQUAL_LOSS_COLUMNS = {
    "Mode": (lambda r: analysis.MODE_NAMES.get(r["mode"], r["mode"]), "{}"), "Loss": ("loss", "{}"),
    "Metric": (lambda r: analysis.QUALITY[r.metric], "{}"),
    "Seen": (_by_metric("seen"), "{}"), "±": (_by_metric("seen_ci95"), "{}"),
    "Unseen": (_by_metric("unseen"), "{}"), "± ": (_by_metric("unseen_ci95"), "{}"),
    "Seen − unseen": (_by_metric("diff", signed=True), "{}"), "95% CI of the difference": (_ci, "{}"),
    "Welch p": ("p", "{:.2g}"),
}


def bd_rate_columns(quality: Sequence[str], overlap: bool = False) -> dict[str, tuple]:
    """Columns of the BD-rate table (:func:`ganlib.evaluation.analysis.bd_rate_table`); ``overlap``: with the
    share of each curve's quality range that the two have in common."""
    columns = {"Codec": (_family_label, "{}")}
    for m in quality:
        name = analysis.QUALITY[m].split(" ")[0]
        columns[f"BD-rate at equal {name} (%)"] = (m, "{:+.1f}", f"{m}_note")
        columns[f"{name}: 95% interval"] = (_interval(f"{m}_lo", f"{m}_hi"), "{}")
        if overlap:
            columns[f"{name} overlap, of the test curve"] = (f"{m}_overlap_test", "{:.0%}")
            columns[f"{name} overlap, of the codec's"] = (f"{m}_overlap_ref", "{:.0%}")
    return columns


def matched_columns(quality: Sequence[str]) -> dict[str, tuple]:
    """Columns of the matched-rate table (:func:`ganlib.evaluation.analysis.matched_rate_table`)."""
    fmt = {m: f"{{:.{DIGITS[m]}f}}" for m in DIGITS}
    return {"Codec": (_family_label, "{}"), **{analysis.QUALITY[m]: (m, fmt[m], "note") for m in quality},
            "Codec's lowest bpp": ("lowest_bpp", "{:.3f}")}


STRONGEST_COLUMNS = {"Metric": (lambda r: analysis.QUALITY[r.metric].split(" ")[0], "{}"),
                     "Strongest learned codec": (lambda r: families.label(r.codec), "{}"),
                     "BD-rate against it (%)": ("bd_rate", "{:+.1f}"),
                     "95% bootstrap interval": (_interval("lo", "hi"), "{}")}
REFINEMENT_COLUMNS = {"Bits per dimension": ("bits", "{:d}"), "Unquantized z": ("float", "{:.3f}"),
                      "Rounded": ("rounded", "{:.3f}"), "Refined (the files)": ("refined", "{:.3f}")}
TRADEOFF_COLUMNS = {"Mode": ("label", "{}"), "Encode ms per image": ("encode_ms", "{:.1f}"),
                    "Images per s": ("images_per_s", "{:.1f}"), "BPP": ("bpp", "{:.3f}"),
                    "PSNR (dB)": ("psnr", "{:.2f}"), "SSIM": ("ssim", "{:.3f}")}
TRADEOFF_GAP_COLUMNS = {"Mode": ("label", "{}"),
                        **{h: v for h, v in EQUAL_LOSS_COLUMNS.items() if h not in ("Mode", "Loss")}}
BIT_ERROR_COLUMNS = {"Bit-error rate": ("ber", "{:g}"),
                     "Mean SSIM (decoded files)": ("ssim", "{:.3f}", "note"),
                     "Decode failures": ("failure_rate", "{:.1%}")}
BUDGET_COLUMNS = {"Codec": (_family_label, "{}"), "Model": ("model", "{}"), "Steps": ("steps", "{:.0f}"),
                  "Batch": ("batch_size", "{:.0f}"), "Training seconds": ("seconds", "{:.1f}")}
CONVERGENCE_COLUMNS = {"Codec": (_family_label, "{}"), "n / m": (lambda r: f"{int(r.n)} / {int(r.m)}", "{}"),
                       "Steps": ("steps", "{:.0f}"), "Rates (bpp)": ("bpp_range", "{}"),
                       "Judged at equal": (lambda r: analysis.QUALITY[r.metric].split(" ")[0], "{}"),
                       "Last doubling of the steps (BD-rate %)": ("doubling", "{:+.1f}")}
RD_CONTENTS_COLUMNS = {"Codec": (_family_label, "{}"), "Parameter": ("parameter", "{}"), "Values": ("values", "{}"),
                       "Unseen images": ("unseen images", "{:d}"), "Seen images": ("seen images", "{:d}"),
                       "Rows": ("rows", "{:d}")}
def _page_link(row) -> str:
    name = html.escape(row.notebook)
    return f'<a href="{name}.html">{name}</a>'


STAGE_COLUMNS = {"Notebook (with its code)": (_page_link, "html"),
                 "Wall time (s)": ("seconds", "{:.0f}", "note")}
KEY_VALUE_COLUMNS = {"": ("key", "{}"), " ": ("value", "{}")}


def verdicts_html(verdicts: Sequence) -> str:
    """The verdicts (:class:`ganlib.evaluation.analysis.Verdict`) as boxes: the claim, its status, the
    numbers that decide it and links to the report sections that show them."""
    kind = {analysis.HOLDS: "holds", analysis.FAILS: "fails", analysis.PARTLY: "partly"}
    out = ['<section class="verdicts">']
    for i, v in enumerate(verdicts, 1):
        see = ", ".join(f'<a href="#{anchor(s)}">{html.escape(s)}</a>' for s in v.sections)
        items = "".join(f"<li>{inline(e)}</li>" for e in v.evidence)
        out.append(f'<div class="verdict {kind.get(v.status, "untested")}"><p class="claim">Claim {i}: '
                   f'“{inline(v.claim)}”</p><p class="status">{html.escape(v.status.capitalize())}</p>'
                   f'<ul>{items}</ul><p class="see">Shown in: {see}</p></div>')
    out.append("</section>")
    return "".join(out)


def show_verdicts(verdicts: Sequence) -> None:
    _display_html(verdicts_html(verdicts))


def show_text(text: str) -> None:
    """A paragraph computed from the run's data (markdown `code`, **bold**, *italic*)."""
    _display_html(f"<p>{inline(text)}</p>")


def markdown_tables(summary_csv: str | Path) -> str:
    """The README's results tables (one per split) from ``summary.csv``."""

    summary = pd.read_csv(summary_csv)
    out = []
    for split, rows in summary.groupby("split", sort=False):
        out += [f"**{split.capitalize()} images** (means with their 95% confidence half-widths)", "",
                "| Scheme | Images | BPP | CR | PSNR (dB) | MSE | SSIM |", "|---|---:|---:|---:|---:|---:|---:|"]
        for r in rows.itertuples():
            label = families.SUMMARY[r.scheme].label if r.scheme in families.SUMMARY else r.scheme
            psnr = "∞" if math.isinf(r.psnr) else f"{r.psnr:.2f} ± {r.psnr_ci95:.2f}"
            out.append(f"| {label} | {r.n_images} | {r.bpp:.3f} ± {r.bpp_ci95:.3f} | {r.cr:.2f} | {psnr} | "
                       f"{r.mse:.1f} | {r.ssim:.3f} ± {r.ssim_ci95:.3f} |")
        out.append("")
    return "\n".join(out)


# ------------------------------------------------------------------ the blocks of README.md and docs/results.md
def _speed_label(row) -> str:
    """A row of speed.csv: "GAN reversal, hybrid" or the codec with its parameter ("JPEG q=1"; AVIF's
    mode also gives its encoder speed: "AVIF q=0, speed 6")."""
    if row.codec == "gan":
        return f"GAN reversal, {row['mode']}"
    if row.codec == "gan_ladder":
        return f"GAN reversal's ladder, compress --{row['mode']}"
    mode, _, speed = str(row["mode"]).partition(", speed ")
    param = None if mode in ("", "nan") else float(mode) if "." in mode else int(mode)
    return families.label(row.codec, param) + (f", speed {speed}" if speed else "")


SPEED_COLUMNS = {"Codec": (_speed_label, "{}"),
                 "Batch": ("batch", "{:d}"), "Encode ms per image": ("encode_ms_per_image", "{:.3g}"),
                 "Decode ms per image": ("decode_ms_per_image", "{:.3g}"), "BPP": ("bpp", "{:.3f}"),
                 "SSIM": ("ssim", "{:.3f}")}
# Where each generated block lives: the README keeps the verdicts and the seed's table, docs/results.md the rest
# (``python -m ganlib.report reports/default --readme README.md --results docs/results.md``; the study's block from
# reports/study/). Each block is in exactly one of the two files (tests/system/test_readme.py checks it).
README_BLOCKS = ("verdicts", "results", "realism")
RESULTS_BLOCKS = ("timings", "strongest", "bd_rate", "residual", "targets", "budget", "tradeoff", "speed")
STUDY_BLOCK, LEARNED_BLOCK, HELDOUT_BLOCK = "study", "learned", "heldout"  # from reports/study/, learned/, heldout/
DOCUMENTS = {"readme": ("README.md", README_BLOCKS),
             "results": ("docs/results.md", (*RESULTS_BLOCKS, STUDY_BLOCK, LEARNED_BLOCK, HELDOUT_BLOCK))}
def _realism_label(row) -> str:
    if row.codec in realism.REFERENCE_NAMES:
        return f"reference: {realism.REFERENCE_NAMES[row.codec]}"
    return families.label(row.codec, row.param)


def _plus_minus(column: str, half: str, spec: str) -> Callable:
    """A cell function: the row's ``column`` ± its ``half`` column, each in ``spec`` ("—" when missing)."""
    def value(row):
        v, h = row.get(column), row.get(half)
        return MISSING if _missing(v) else spec.format(v) + ("" if _missing(h) else f" ± {spec.format(h)}")
    return value


REALISM_COLUMNS = {"Codec": (_realism_label, "{}"), "Images": ("n_images", "{:.0f}"), "BPP": ("bpp", "{:.3f}"),
                   "PSNR (dB)": ("psnr", "{:.2f}"), "SSIM": ("ssim", "{:.3f}"),
                   "Accuracy (%)": (_plus_minus("accuracy_pct", "accuracy_ci95_pct", "{:.1f}"), "{}"),
                   "Agreement (%)": (_plus_minus("agreement_pct", "agreement_ci95_pct", "{:.1f}"), "{}"),
                   "KID (± std)": (_plus_minus("kid", "kid_std", "{:.4f}"), "{}"),
                   "FID (biased)": ("fid", "{:.2f}")}
def _target_codec(row) -> str:
    if row.codec == "gan_ladder":
        return "GAN reversal's ladder (base layer, residual layers, then PNG)"
    return _family_label(row)


TARGET_COLUMNS = {"Codec": (_target_codec, "{}"),
                  "Target": (lambda r: f"{analysis.QUALITY[r.metric].split(' ')[0]} ≥ {r.value:g}", "{}"),
                  "Images": ("n_images", "{:d}"), "Reached (%)": (lambda r: 100 * r.met, "{:.1f}"),
                  "Mean bytes": ("bytes", "{:.1f}"), "Mean bpp": ("bpp", "{:.3f}")}
HELDOUT_CSV = "heldout.csv"  # written by python -m ganlib.pipeline.heldout (make heldout) into reports/heldout/
HELDOUT_COLUMNS = {"Codec and setting": ("what", "{}"), "Images": ("n_images", "{:d}"),
                   "Target reached (%)": (lambda r: 100 * r.met, "{:.1f}"), "Mean bytes": ("bytes", "{:.1f}"),
                   "Mean bpp": ("bpp", "{:.3f}"), "SSIM": ("ssim", "{:.3f}"), "PSNR (dB)": ("psnr", "{:.2f}"),
                   "Lossless fallback (%)": (lambda r: 100 * r.lossless, "{:.1f}")}
LAYERED_POINT_COLUMNS = {"Codec": (lambda r: families.label(r.codec, r.param), "{}"), "BPP": ("bpp", "{:.3f}"),
                         "PSNR (dB)": ("psnr", "{:.2f}"), "SSIM": ("ssim", "{:.3f}")}


def table_markdown(frame, columns: Mapping[str, tuple]) -> str:
    """A Markdown table of ``frame`` with the column specs of :func:`table_html` (missing values "—")."""
    rows = [row for _, row in frame.iterrows()]
    values = {h: [spec[0](r) if callable(spec[0]) else r[spec[0]] for r in rows] for h, spec in columns.items()}
    numeric = {h: all(_numeric(v) or _missing(v) for v in values[h]) for h in columns}
    out = ["| " + " | ".join(columns) + " |", "|" + "|".join("---:" if numeric[h] else "---" for h in columns) + "|"]
    for i in range(len(rows)):
        out.append("| " + " | ".join(html.unescape(cell(values[h][i], spec[1])) for h, spec in columns.items()) + " |")
    return "\n".join(out)


REALISM_MATCHED = "realism_matched.csv"  # 05: the realism study's codecs near GAN reversal's rate, and references


def readme_blocks(directory: str | Path) -> dict[str, str]:
    """The generated blocks of README.md and docs/results.md (:data:`DOCUMENTS` says which is where),
    by name, from the files a run wrote into ``reports/<profile>/``: summary.csv, findings.json,
    stage_times.csv, bd_rate.csv, tradeoff.csv, rd.csv with bd_rate_residual.csv, and
    training_budget.csv (05_results) and speed.csv (``make bench``); from ``reports/study/``, the
    study's block (study.csv). A block whose file is missing is left out."""

    d = Path(directory)
    blocks, gap = {}, ""
    if (d / "summary.csv").is_file():
        blocks["results"] = markdown_tables(d / "summary.csv")
    if (d / "findings.json").is_file():
        found = json.loads((d / "findings.json").read_text())
        blocks["verdicts"] = "\n".join(f"- **Claim {i}: {v['claim']}** *{v['status'].capitalize()}.* "
                                       + " ".join(v["evidence"]) for i, v in enumerate(found["verdicts"], 1))
        gap = found.get("encoder_gap", "")
    if (d / REALISM_MATCHED).is_file():
        matched = realism.for_display(pd.read_csv(d / REALISM_MATCHED))
        blocks["realism"] = "\n\n".join(f"**{SPLIT_NAMES[split]}**\n\n" + table_markdown(g, REALISM_COLUMNS)
                                          for split, g in matched.groupby("split", sort=False))
    if (d / "stage_times.csv").is_file():
        t = pd.read_csv(d / "stage_times.csv")
        minutes, seconds = divmod(round(t.seconds.sum()), 60)
        spent = f"The chain's stages took {minutes} min {seconds} s of wall time in all"
        span = analysis.stages_span(t)
        if span == span:  # not NaN: the stages' start and end times are known
            spent = (f"The chain's stages before 05_results took {int(span // 60)} min {round(span % 60)} s of wall "
                     "time, from the first one's start to the last one's end; their "
                     f"own times add up to {minutes} min {seconds} s")
        blocks["timings"] = spent + ": " + "; ".join(f"{r.notebook} {r.seconds:.0f} s" for r in t.itertuples()) + "."
    if (d / "bd_rate_strongest.csv").is_file():
        strongest = pd.read_csv(d / "bd_rate_strongest.csv")
        blocks["strongest"] = "\n\n".join(f"**{SPLIT_NAMES[split]}**\n\n" + table_markdown(g, STRONGEST_COLUMNS)
                                           for split, g in strongest.groupby("split", sort=False))
    if (d / "bd_rate.csv").is_file():
        bd = pd.read_csv(d / "bd_rate.csv")
        blocks["bd_rate"] = "\n\n".join(f"**{SPLIT_NAMES[split]}**\n\n"
                                         + table_markdown(g, bd_rate_columns([m for m in ("ssim", "psnr") if m in g]))
                                         for split, g in bd.groupby("split", sort=False))
    if (d / "tradeoff.csv").is_file():
        modes = pd.read_csv(d / "tradeoff.csv")
        blocks["tradeoff"] = "\n\n".join(f"**{SPLIT_NAMES[split]}**\n\n" + table_markdown(g, TRADEOFF_COLUMNS)
                                          for split, g in modes.groupby("split", sort=False))
        if gap:
            blocks["tradeoff"] += "\n\n" + gap
    if (d / "speed.csv").is_file():
        blocks["speed"] = table_markdown(pd.read_csv(d / "speed.csv", dtype={"mode": str}), SPEED_COLUMNS)
    if (d / "rd.csv").is_file() and (d / "bd_rate_residual.csv").is_file():
        blocks["residual"] = residual_markdown(d / "rd.csv", d / "bd_rate_residual.csv")
    if (d / "targets.csv").is_file():
        t = pd.read_csv(d / "targets.csv")
        blocks["targets"] = "\n\n".join(f"**{SPLIT_NAMES[split]}**\n\n" + table_markdown(g, TARGET_COLUMNS)
                                         for split, g in t[t.split == "unseen"].groupby("split", sort=False))
    if (d / "training_budget.csv").is_file():
        blocks["budget"] = table_markdown(pd.read_csv(d / "training_budget.csv"), BUDGET_COLUMNS)
    if (d / STUDY_CSV).is_file():  # reports/study/: python -m ganlib.report reports/study --results docs/results.md
        blocks[STUDY_BLOCK] = study_markdown(d / STUDY_CSV)
    if (d / CONVERGENCE_CSV).is_file():  # reports/learned/: python -m ganlib.report reports/learned --results ...
        blocks[LEARNED_BLOCK] = learned_markdown(d / CONVERGENCE_CSV)
    if (d / HELDOUT_CSV).is_file():  # reports/heldout/: python -m ganlib.report reports/heldout --results ...
        table = pd.read_csv(d / HELDOUT_CSV)
        blocks[HELDOUT_BLOCK] = "\n\n".join(f"**{group}**\n\n" + table_markdown(g, HELDOUT_COLUMNS)
                                              for group, g in table.groupby("group", sort=False))
    return blocks


def residual_markdown(rd_csv: str | Path, bd_csv: str | Path) -> str:
    """The README's residual-layer block: the layered codecs' mean points on unseen images (from
    rd.csv), then their BD-rate table per split (``bd_rate_residual.csv``, with overlap shares)."""

    rd = pd.read_csv(rd_csv)
    layered = [f.id for f in families.of_kind(families.LAYERED)]
    points = analysis.curves(rd[rd.codec.isin(layered) & (rd.split == "unseen")])
    bd = pd.read_csv(bd_csv)
    quality = [m for m in ("psnr", "ssim") if m in bd]
    return "\n\n".join(["**Unseen images: the layered codecs' points** (means over the images)",
                         table_markdown(points, LAYERED_POINT_COLUMNS)]
                        + [f"**{SPLIT_NAMES[split]}: BD-rate of GAN + learned residual**\n\n"
                           + table_markdown(g, bd_rate_columns(quality, overlap=True))
                           for split, g in bd.groupby("split", sort=False)])


# ------------------------------------------------------------------ the capacity study's block
STUDY_CSV = "study.csv"  # written by python -m ganlib.pipeline.study (make study) into reports/study/


def _int(column: str) -> Callable:
    return lambda row: int(row[column])


STUDY_COLUMNS = {"latent_dim": (_int("latent_dim"), "{:d}"), "Width": (_int("width"), "{:d}"),
                 "Training steps": (_int("steps"), "{:d}"), "lr": ("lr", "{:g}"),
                 "Generator parameters": (_int("generator_parameters"), "{:,d}"),
                 "Training (s)": ("train_seconds", "{:.0f}"), "BPP": ("bpp", "{:.3f}"), "SSIM": ("ssim", "{:.3f}"),
                 "PSNR (dB)": ("psnr", "{:.2f}"), "SSIM, unquantized z": ("ssim_float", "{:.3f}"),
                 "PSNR, unquantized z (dB)": ("psnr_float", "{:.2f}")}


def study_markdown(study_csv: str | Path) -> str:
    """The README's capacity-study block from ``study.csv`` (:mod:`ganlib.pipeline.study`): each model's size,
    training time and mean quality at the study's bit depth (and of the unquantized latent), then
    its BD-rate against every baseline family but PNG at equal SSIM and at equal PSNR ("—" where
    there is none, the reasons under the tables), and the training's torch threads and load."""

    t = pd.read_csv(study_csv)
    bits, n = int(t.gan_bits.iloc[0]), int(t.n_images.iloc[0])
    out = [f"**Each model's files at {bits} bits per latent dimension** (means over {n} unseen images)", "",
           table_markdown(t, STUDY_COLUMNS)]
    ids = {"latent_dim": STUDY_COLUMNS["latent_dim"], "Width": STUDY_COLUMNS["Width"],
           "Steps": STUDY_COLUMNS["Training steps"], "lr": STUDY_COLUMNS["lr"]}
    notes = []
    for metric in ("ssim", "psnr"):
        found = [c[len(f"bd_{metric}_"):] for c in t if c.startswith(f"bd_{metric}_") and not c.endswith("_note")]
        found = [f for f in found if f != "png"]
        columns = {**ids, **{families.label(f) if f in families.FAMILIES else f: (f"bd_{metric}_{f}", "{:+.1f}")
                             for f in found}}
        out += ["", f"**BD-rate against each codec at equal {analysis.QUALITY[metric].split(' ')[0]} (%)**", "",
                table_markdown(t, columns)]
        notes += [k for f in found for k in t[f"bd_{metric}_{f}_note"].dropna()]
    if notes:
        out += ["", "—: " + "; ".join(analysis.NOTES.get(k, k) for k in dict.fromkeys(notes)) + "."]
    threads = " or ".join(str(v) for v in sorted(set(t.torch_threads.astype(int))))
    cores = int(t.cpu_cores.max())
    busy = (f" (above {cores}: other processes competed for the CPU, so those times are longer than on an idle "
            "machine)") if t.load_average.max() > cores else ""
    out += ["", f"Training (s) is the training loop's wall time on {threads} torch threads of a {cores}-core machine; "
            f"its 1-minute load average when each training ended was {t.load_average.min():.1f} to "
            f"{t.load_average.max():.1f}{busy}."]
    return "\n".join(out)


CONVERGENCE_CSV = "convergence.csv"  # written by python -m ganlib.pipeline.learned_study (make learned)


def learned_markdown(convergence_csv: str | Path) -> str:
    """The learned codecs' convergence block from ``convergence.csv`` (:mod:`ganlib.pipeline.learned_study`):
    per series, how much the last doubling of its steps and a wider model saved
    (:func:`ganlib.evaluation.analysis.learned_convergence`), then every snapshot's mean point."""
    t = pd.read_csv(convergence_csv)
    points = {"Codec": (_family_label, "{}"), "n / m": CONVERGENCE_COLUMNS["n / m"], "Steps": ("step", "{:.0f}"),
              "λ": ("lambda", "{:g}"), "BPP": ("bpp", "{:.3f}"), "PSNR (dB)": ("psnr", "{:.2f}"),
              "SSIM": ("ssim", "{:.3f}"), "MS-SSIM": ("ms_ssim", "{:.3f}")}
    last = t[t.step == t.steps].rename(columns={"family": "codec"})
    return "\n".join([f"**Distance from convergence** (means over the first {int(t.n_images.iloc[0])} unseen "
                      "evaluation images)", "", table_markdown(analysis.learned_convergence(t), CONVERGENCE_COLUMNS),
                      "", "**Each model's last snapshot**", "", table_markdown(last, points)])


def block(text: str, name: str) -> str | None:
    """The content of ``<!-- name:start -->`` ... ``<!-- name:end -->`` in ``text`` (None if absent)."""
    m = re.search(rf"<!-- {name}:start -->\n(.*?)\n<!-- {name}:end -->", text, re.S)
    return m.group(1) if m else None


def update_readme(readme: str | Path, directory: str | Path, names: Sequence[str] | None = None) -> list[str]:
    """Rewrite the generated blocks ``names`` (default: every block :func:`readme_blocks` makes) of the
    Markdown file ``readme`` (README.md or docs/results.md) from ``directory``'s files; returns the names
    rewritten. A block in ``names`` that the directory's files make but the file has no markers for is a
    ``ValueError`` (nothing is written), so a deleted block is not silently skipped."""
    path = Path(readme)
    text = path.read_text()
    made = readme_blocks(directory)
    wanted = [n for n in (made if names is None else names) if n in made]
    missing = [n for n in wanted if block(text, n) is None]
    if missing:
        raise ValueError(f"{readme}: no block {', '.join(map(repr, missing))} (<!-- name:start --> ... "
                         "<!-- name:end -->) to rewrite")
    for name in wanted:
        start, end = f"<!-- {name}:start -->\n", f"\n<!-- {name}:end -->"
        text = text[:text.index(start) + len(start)] + made[name] + text[text.index(end):]
    files.write_text(path, text)
    return wanted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganlib.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", help="reports/<profile>/ holding the executed notebooks")
    parser.add_argument("--readme", metavar="README.md", help="instead of rendering, rewrite this README's generated "
                        f"blocks ({', '.join(README_BLOCKS)}) from the directory's files")
    parser.add_argument("--results", metavar="docs/results.md", help="instead of rendering, rewrite this results "
                        f"page's generated blocks ({', '.join((*RESULTS_BLOCKS, STUDY_BLOCK))}) from the directory's "
                        "files")
    args = parser.parse_args(argv)
    targets = [(getattr(args, key), names) for key, (_, names) in DOCUMENTS.items() if getattr(args, key)]
    try:
        for path, names in targets:
            print(f"{path}: rewrote {', '.join(update_readme(path, args.directory, names)) or 'nothing'}")
        if not targets:
            print(render_dir(args.directory))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
