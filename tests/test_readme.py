from pathlib import Path

from ganlib import report

ROOT = Path(__file__).resolve().parent.parent


def test_readme_table_is_the_committed_summary():
    """The README's results tables are generated from reports/default/summary.csv."""
    readme = (ROOT / "README.md").read_text()
    assert report.markdown_tables(ROOT / "reports/default/summary.csv") in readme
