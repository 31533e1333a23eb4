"""Render executed notebooks to HTML.

``python -m ganlib.report DIR`` renders every ``*.ipynb`` in DIR (``reports/<profile>/``)
to HTML with its code, and ``05_results.ipynb`` a second time as ``report.html`` with code
hidden and papermill's injected-parameters cell removed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor
from traitlets.config import Config

from . import files

RESULTS = "05_results.ipynb"


def render(notebook: Path, out: Path, hide_code: bool) -> Path:
    """Write ``notebook`` as HTML to ``out`` (atomically). ``hide_code`` drops inputs,
    prompts and the injected-parameters cell."""
    config = Config()
    config.TagRemovePreprocessor.remove_cell_tags = ("injected-parameters",) if hide_code else ()
    exporter = HTMLExporter(config=config, exclude_input=hide_code, exclude_input_prompt=hide_code,
                            exclude_output_prompt=hide_code)
    exporter.register_preprocessor(TagRemovePreprocessor(config=config), enabled=True)
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    files.write_text(out, body)
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


LABELS = {"gan": "GAN reversal", "png": "PNG (lossless)", "kmeans4": "K-means, K=4", "jpeg10": "JPEG q=10",
          "jpeg1": "JPEG q=1", "webp0": "WebP q=0"}


def markdown_tables(summary_csv: str | Path) -> str:
    """The README's results tables (one per split) from ``summary.csv``."""
    import pandas as pd

    summary = pd.read_csv(summary_csv)
    out = []
    for split, rows in summary.groupby("split", sort=False):
        out += [f"**{split.capitalize()} images** ({int(rows.n_images.iloc[0])} images)", "",
                "| Scheme | BPP | CR | PSNR (dB) | MSE | SSIM |", "|---|---:|---:|---:|---:|---:|"]
        for r in rows.itertuples():
            out.append(f"| {LABELS.get(r.scheme, r.scheme)} | {r.bpp:.3f} | {r.cr:.2f} | {r.psnr:.2f} | "
                       f"{r.mse:.1f} | {r.ssim:.3f} |")
        out.append("")
    return "\n".join(out).replace("| inf |", "| ∞ |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganlib.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", help="reports/<profile>/ holding the executed notebooks")
    args = parser.parse_args(argv)
    try:
        print(render_dir(args.directory))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

