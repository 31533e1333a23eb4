"""README.md's and docs/results.md's generated blocks against the run they are generated from.

They compare the README with reports/default/ as committed (``git show HEAD:reports/default/...``):
a user's own ``make report`` rewrites the working tree's reports/default/ with that machine's
numbers, and the README keeps the committed run's. Where the working tree's run gives exactly the
README's blocks (a new run regenerated into the README, not yet committed), that run is used.
Outside a git checkout, only the working tree's run is there."""
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from ganlib.report import document

ROOT = Path(__file__).resolve().parents[2]
FILES = {key: ROOT / path for key, (path, _) in document.DOCUMENTS.items()}  # README.md, docs/results.md
RUN = "reports/default"


def committed_run(into: Path) -> Path | None:
    """reports/default/'s CSV and JSON files as committed at HEAD, copied into ``into``; None outside git."""
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, timeout=120)
    listed = git("ls-tree", "-r", "--name-only", "HEAD", RUN)
    if listed.returncode or not listed.stdout:
        return None
    for name in listed.stdout.decode().split("\n"):
        if name.endswith((".csv", ".json")):
            target = into / Path(name).relative_to(RUN)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(git("show", f"HEAD:{name}").stdout)
    return into


STUDIES = (document.STUDY_BLOCK, document.LEARNED_BLOCK, document.HELDOUT_BLOCK)  # from the studies' own folders


def gives_the_readme(run: Path) -> bool:
    blocks = document.readme_blocks(run)
    placed = {name: document.block(FILES[key].read_text(), name)
              for key, (_, names) in document.DOCUMENTS.items() for name in names if name not in STUDIES}
    return (all(blocks.get(name) == text for name, text in placed.items())
            and document.markdown_tables(run / "summary.csv") in FILES["readme"].read_text())


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory) -> Path:
    """The run the README's blocks are compared with (the module docstring): the working tree's
    reports/default/ if it gives them, else the committed one (its failures then say what is stale)."""
    working = ROOT / RUN
    if gives_the_readme(working):
        return working
    return committed_run(tmp_path_factory.mktemp("committed")) or working


def test_readme_table_is_the_committed_summary(readme_run):
    """The README's results tables are generated from reports/default/summary.csv."""
    readme = (ROOT / "README.md").read_text()
    assert document.markdown_tables(readme_run / "summary.csv") in readme


def test_every_generated_block_matches_the_committed_run(readme_run):
    """Numbers in the generated blocks of README.md (verdicts, the seed's table) and docs/results.md
    (timings, BD-rates, residual layer, budgets, encoding modes, speed) are those of reports/default/'s
    files: `python -m ganlib.report reports/default --readme README.md --results docs/results.md`.
    A block whose markers are gone fails too."""
    blocks = document.readme_blocks(readme_run)
    assert set(document.README_BLOCKS) | set(document.RESULTS_BLOCKS) <= set(blocks)
    for key, (path, names) in document.DOCUMENTS.items():
        text = FILES[key].read_text()
        for name in names:
            if name in STUDIES:
                continue  # from reports/study/ and reports/learned/: test_regenerating_reproduces_the_committed_files
            placed = document.block(text, name)
            assert placed is not None, f"{path} has no block {name!r}: restore its markers and regenerate it"
            assert placed == blocks[name], f"{path}: block {name!r} is stale: regenerate it"


def test_each_block_is_in_exactly_one_file():
    """Every generated block is in the file :data:`document.DOCUMENTS` names and in no other, once;
    neither file has markers of a block that nothing generates."""
    marker = re.compile(r"<!-- (\w+):start -->")
    for key, (path, names) in document.DOCUMENTS.items():
        text = FILES[key].read_text()
        found = marker.findall(text)
        assert sorted(found) == sorted(names), f"{path}: blocks {found}, expected {list(names)}"
        assert all(text.count(f"<!-- {n}:end -->") == 1 for n in names), f"{path}: an end marker is missing or doubled"


def test_regenerating_reproduces_the_committed_files(readme_run, tmp_path, capsys):
    """The command that rewrites the blocks leaves the committed README.md and docs/results.md as they are."""
    copies = {key: tmp_path / f"{key}.md" for key in FILES}
    for key, path in FILES.items():
        shutil.copyfile(path, copies[key])
    assert document.main([str(readme_run), "--readme", str(copies["readme"]),
                          "--results", str(copies["results"])]) == 0
    for study in ("study", "learned"):
        assert document.main([str(ROOT / "reports" / study), "--results", str(copies["results"])]) == 0
    for key, path in FILES.items():
        assert copies[key].read_text() == path.read_text(), f"regenerating changes {path.relative_to(ROOT)}"
    out = capsys.readouterr().out
    assert f"{copies['readme']}: rewrote {', '.join(document.README_BLOCKS)}" in out
    assert f"{copies['results']}: rewrote {', '.join(document.RESULTS_BLOCKS)}" in out


def test_update_readme_rewrites_only_the_blocks(tmp_path):
    pd.DataFrame([{"notebook": "01_data", "seconds": 61.2, "note": None},
                  {"notebook": "02_train_gan", "seconds": 100.4, "note": None}]).to_csv(tmp_path / "stage_times.csv",
                                                                                      index=False)
    readme = tmp_path / "README.md"
    readme.write_text("intro 1.5 s\n<!-- timings:start -->\nold\n<!-- timings:end -->\n<!-- speed:start -->\nx\n"
                      "<!-- speed:end -->\n")
    assert document.update_readme(readme, tmp_path) == ["timings"]
    text = readme.read_text()
    assert document.block(text, "timings") == ("The chain's stages took 2 min 42 s of wall time in all: 01_data 61 s; "
                                             "02_train_gan 100 s.")
    assert text.startswith("intro 1.5 s\n") and document.block(text, "speed") == "x"
    pd.DataFrame([{"notebook": "01_data", "seconds": 61.2, "start": "2026-01-01T10:00:00+00:00",
                   "end": "2026-01-01T10:01:01.2+00:00"},
                  {"notebook": "02_train_gan", "seconds": 100.4, "start": "2026-01-01T10:00:30+00:00",
                   "end": "2026-01-01T10:02:10.4+00:00"}]).to_csv(tmp_path / "stage_times.csv", index=False)
    document.update_readme(readme, tmp_path)
    assert document.block(readme.read_text(), "timings").startswith(
        "The chain's stages before 05_results took 2 min 10 s of wall time, from the first one's start to the last "
        "one's end; their own times add up to 2 min 42 s: 01_data 61 s;")


def test_markdown_table_uses_the_reports_column_formats():
    frame = pd.DataFrame([{"label": "encoder only", "encode_ms": 1.04, "images_per_s": 961.5, "bpp": 0.5, "psnr": 18.6,
                           "ssim": float("nan")}])
    assert document.table_markdown(frame, document.TRADEOFF_COLUMNS).splitlines() == [
        "| Mode | Encode ms per image | Images per s | BPP | PSNR (dB) | SSIM |", "|---|---:|---:|---:|---:|---:|",
        "| encoder only | 1.0 | 961.5 | 0.500 | 18.60 | — |"]


def test_the_study_block_is_made_from_study_csv_alone(tmp_path):
    """The capacity study's block comes from reports/study/study.csv (`python -m ganlib.report reports/study
    --readme README.md`); a reports directory without it makes no study block, and the README's, if it has one,
    is the committed study's."""
    row = {"model": "z64_w64_s3000", "latent_dim": 64, "width": 64, "steps": 3000, "lr": 0.0002,
           "generator_parameters": 546177,
           "train_seconds": 215.04, "load_average": 2.6, "torch_threads": 2, "cpu_cores": 2, "n_images": 64,
           "gan_bits": 8, "bpp": 0.7013, "ssim": 0.8504, "psnr": 20.721, "ssim_float": 0.86, "psnr_float": 20.9,
           "bd_ssim_png": float("nan"), "bd_ssim_png_note": "lossless", "bd_ssim_webp": -64.64,
           "bd_ssim_webp_note": None, "bd_psnr_webp": float("nan"), "bd_psnr_webp_note": "no-overlap"}
    pd.DataFrame([row]).to_csv(tmp_path / "study.csv", index=False)
    readme = tmp_path / "README.md"
    readme.write_text("x\n<!-- study:start -->\nold\n<!-- study:end -->\n")
    assert document.update_readme(readme, tmp_path) == ["study"]
    assert document.block(readme.read_text(), "study").splitlines() == [
        "**Each model's files at 8 bits per latent dimension** (means over 64 unseen images)", "",
        "| latent_dim | Width | Training steps | lr | Generator parameters | Training (s) | BPP | SSIM | PSNR (dB) "
        "| SSIM, unquantized z | PSNR, unquantized z (dB) |", "|" + "---:|" * 11,
        "| 64 | 64 | 3000 | 0.0002 | 546,177 | 215 | 0.701 | 0.850 | 20.72 | 0.860 | 20.90 |", "",
        "**BD-rate against each codec at equal SSIM (%)**", "", "| latent_dim | Width | Steps | lr | WebP |",
        "|---:|---:|---:|---:|---:|", "| 64 | 64 | 3000 | 0.0002 | −64.6 |", "",
        "**BD-rate against each codec at equal PSNR (%)**", "", "| latent_dim | Width | Steps | lr | WebP |",
        "|---:|---:|---:|---:|---:|", "| 64 | 64 | 3000 | 0.0002 | — |", "",
        "—: the two curves do not overlap in quality.", "",
        "Training (s) is the training loop's wall time on 2 torch threads of a 2-core machine; its 1-minute load "
        "average when each training ended was 2.6 to 2.6 (above 2: other processes competed for the CPU, so those "
        "times are longer than on an idle machine)."]
    assert "study" not in document.readme_blocks(ROOT / "reports/default")


def test_the_committed_study_block():
    """docs/results.md's study block is reports/study/study.csv's (`python -m ganlib.report reports/study
    --results docs/results.md`); a deleted block fails."""
    placed = document.block(FILES["results"].read_text(), document.STUDY_BLOCK)
    assert placed is not None, "docs/results.md has no block 'study'"
    assert placed == document.study_markdown(ROOT / "reports/study/study.csv"), "block 'study' is stale"


def test_the_committed_heldout_block():
    """docs/results.md's held-out-class block is reports/heldout/heldout.csv's (`python -m ganlib.report
    reports/heldout --results docs/results.md`)."""
    placed = document.block(FILES["results"].read_text(), document.HELDOUT_BLOCK)
    assert placed is not None, "docs/results.md has no block 'heldout'"
    expected = document.readme_blocks(ROOT / "reports/heldout")[document.HELDOUT_BLOCK]
    assert placed == expected, "block 'heldout' is stale"


def test_a_missing_block_is_an_error_and_nothing_is_written(tmp_path, capsys):
    pd.DataFrame([{"notebook": "01_data", "seconds": 61.2, "note": None}]).to_csv(tmp_path / "stage_times.csv",
                                                                                 index=False)
    page = tmp_path / "results.md"
    page.write_text("no markers here\n")
    with pytest.raises(ValueError, match="no block 'timings'"):
        document.update_readme(page, tmp_path, document.RESULTS_BLOCKS)
    assert page.read_text() == "no markers here\n"
    assert document.update_readme(page, tmp_path, document.README_BLOCKS) == []  # not this file's block: no error
    assert document.main([str(tmp_path), "--results", str(page)]) == 2
    assert "no block 'timings'" in capsys.readouterr().err
