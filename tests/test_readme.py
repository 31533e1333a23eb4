from pathlib import Path

import pandas as pd

from ganlib import report

ROOT = Path(__file__).resolve().parent.parent


def test_readme_table_is_the_committed_summary():
    """The README's results tables are generated from reports/default/summary.csv."""
    readme = (ROOT / "README.md").read_text()
    assert report.markdown_tables(ROOT / "reports/default/summary.csv") in readme


def test_every_generated_block_of_the_readme_matches_the_committed_run():
    """Numbers in the README's generated blocks (verdicts, timings, BD-rates, encoding modes, speed)
    are those of reports/default/'s files: `python -m ganlib.report reports/default --readme README.md`."""
    readme = (ROOT / "README.md").read_text()
    blocks = report.readme_blocks(ROOT / "reports/default")
    assert set(report.README_BLOCKS) <= set(blocks)
    for name in report.README_BLOCKS:
        assert report.block(readme, name) == blocks[name], f"README block {name!r} is stale: regenerate it"


def test_update_readme_rewrites_only_the_blocks(tmp_path):
    pd.DataFrame([{"notebook": "01_data", "seconds": 61.2, "note": None},
                  {"notebook": "02_train_gan", "seconds": 100.4, "note": None}]).to_csv(tmp_path / "stage_times.csv",
                                                                                      index=False)
    readme = tmp_path / "README.md"
    readme.write_text("intro 1.5 s\n<!-- timings:start -->\nold\n<!-- timings:end -->\n<!-- speed:start -->\nx\n"
                      "<!-- speed:end -->\n")
    assert report.update_readme(readme, tmp_path) == ["timings"]
    text = readme.read_text()
    assert report.block(text, "timings") == ("The chain's stages took 2 min 42 s of wall time in all: 01_data 61 s; "
                                             "02_train_gan 100 s.")
    assert text.startswith("intro 1.5 s\n") and report.block(text, "speed") == "x"


def test_markdown_table_uses_the_reports_column_formats():
    frame = pd.DataFrame([{"label": "encoder only", "encode_ms": 1.04, "images_per_s": 961.5, "bpp": 0.5, "psnr": 18.6,
                           "ssim": float("nan")}])
    assert report.table_markdown(frame, report.TRADEOFF_COLUMNS).splitlines() == [
        "| Mode | Encode ms per image | Images per s | BPP | PSNR (dB) | SSIM |", "|---|---:|---:|---:|---:|---:|",
        "| encoder only | 1.0 | 961.5 | 0.500 | 18.60 | — |"]
