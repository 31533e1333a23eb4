"""The smoke profile through make and papermill, in a temporary work directory (about 2 minutes)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ganlib.evaluation import analysis, realism

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    env = {**os.environ, "GANLIB_WORKDIR": str(work)}
    # share the fetched raw data with the project's data/ cache when there is one
    if (ROOT / "data").is_dir():
        (work / "data").symlink_to(ROOT / "data")
    done = subprocess.run(["make", "-C", str(ROOT), "report", "PROFILE=smoke", f"WORKDIR={work}"], env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return work, env


def test_summary_and_report(smoke):
    work, _ = smoke
    summary = pd.read_csv(work / "reports/smoke/summary.csv")
    assert list(summary.columns) == analysis.SUMMARY_COLUMNS
    assert set(summary.scheme) == {"gan", "gan_search", "png", "kmeans4", "jpeg10", "jpeg1", "webp0"}
    assert set(summary.split) == {"seen", "unseen"}
    searched = summary.scheme == "gan_search"  # the seed's search: the first 8 of the 12 evaluation images
    assert (summary[searched].n_images == 8).all() and (summary[~searched].n_images == 12).all()
    png = summary[summary.scheme == "png"]
    assert (png.ssim == 1.0).all() and np.isinf(png.psnr).all()
    html = (work / "reports/smoke/report.html").read_text()
    assert "GAN reversal image compression" in html and "injected-parameters" not in html
    assert "import numpy" not in html  # code hidden
    controls = ["03_invert_seen_ssim", "03_invert_unseen_mse", "03_invert_seen_hybrid", "03_invert_unseen_hybrid",
                "03_invert_seen_encoder", "03_invert_unseen_encoder"]
    pages = ["01_data", "02_train_gan", "02b_train_encoder", "02c_train_classifier", "03_invert_seen",
             "03_invert_unseen", *controls, "03b_tradeoff", "04_baselines", "04b_residual", "04c_realism", "05_results"]
    for name in pages:
        assert (work / f"reports/smoke/{name}.html").is_file()
        assert f"{name}.html" in html


def test_report_opens_with_the_verdict_and_every_page_is_clean(smoke):
    """The report: a real title, the four verdicts before the first table, no NaN; every
    page: nothing fetched (no external script or stylesheet), at most 3 stderr output blocks, no
    absolute path of this machine."""
    work, _ = smoke
    html = (work / "reports/smoke/report.html").read_text()
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert "GAN reversal image compression" in title and title != "Notebook"
    assert html.index('class="verdicts"') < html.index("<table")
    assert html.count('class="verdict ') == 4 and 'id="contents"' in html
    for claim in ["lowest-quality JPEG (q=1)", "seen in training are easier", "keeps an image's class and realism"]:
        assert html.index(claim) < html.index("<table")
    text = re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", "", html)  # base64 can spell anything
    assert not re.search(r"\bnan\b", text, re.I), "NaN in the report"
    assert text.count("<figcaption>") >= 5 and text.count("<caption>") >= 8
    for page in sorted((work / "reports/smoke").glob("*.html")):
        content = page.read_text()
        assert not re.search(r"<script[^>]+src=", content), page.name
        assert not re.search(r"<link[^>]+stylesheet", content), page.name
        assert content.count('data-mime-type="application/vnd.jupyter.stderr"') <= 3, page.name
        assert str(work) not in content and str(ROOT) not in content, page.name
        assert "TqdmWarning" not in content, page.name
        assert len(content) < 2_500_000, page.name


def test_up_to_date_stages_do_not_rerun(smoke):
    work, env = smoke
    question = subprocess.run(["make", "-C", str(ROOT), "-q", "report", "PROFILE=smoke", f"WORKDIR={work}"], env=env)
    assert question.returncode == 0


def test_decompressed_file_is_the_scored_image(smoke, tmp_path):
    work, env = smoke
    run = work / "runs/smoke"
    scored = np.load(run / "invert_unseen.npz")
    first = int(scored["ids"][0])
    out = tmp_path / "back.png"
    done = subprocess.run([sys.executable, "-m", "ganlib", "decompress", str(run / f"latents/unseen/b8/{first}.gan"),
                           "-o", str(out), "--run", str(run)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert np.array_equal(np.asarray(Image.open(out))[..., None], scored["decoded_b8"][0])


def test_single_stage_from_the_notebooks_directory(smoke, tmp_path):
    work, env = smoke
    base = [str(BIN / "papermill"), "03_invert.ipynb", str(tmp_path / "out.ipynb"), "-p", "profile", "smoke",
            "-p", "steps", "5", "-p", "n_images", "2", "-p", "restarts", "1", "-p", "refine_steps", "1"]
    done = subprocess.run([*base, "-p", "loss", "ssim"], cwd=ROOT / "notebooks", env=env, capture_output=True,
                          text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    bad = subprocess.run([*base, "-p", "loss", "foo"], cwd=ROOT / "notebooks", env=env, capture_output=True,
                         text=True, timeout=1200)
    assert bad.returncode != 0
    assert "loss='foo' is not allowed; choose one of: mse, l1, ssim, msssim" in bad.stderr + bad.stdout
    typo = subprocess.run([*base, "-p", "stepz", "10"], cwd=ROOT / "notebooks", env=env, capture_output=True,
                          text=True, timeout=1200)
    assert typo.returncode != 0 and "stepz" in typo.stderr + typo.stdout


def test_speed_benchmark_times_every_codec_and_gan_mode(smoke):
    work, env = smoke
    bench = [sys.executable, str(ROOT / "benchmarks/speed.py"), "--profile", "smoke", "-n", "2", "--one", "1"]
    done = subprocess.run(bench, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    speed = pd.read_csv(work / "reports/smoke/speed.csv", dtype={"mode": str}, keep_default_na=False)
    assert list(speed.columns) == ["codec", "mode", "batch", "n_images", "encode_ms_per_image", "decode_ms_per_image",
                                   "bpp", "ssim"]
    rows = set(zip(speed.codec, speed["mode"], speed.batch))
    assert {("png", "", 1), ("jpeg", "1", 1), ("webp", "0", 1), ("j2k", "20", 1), ("avif", "0, speed 6", 1),
            ("avif", "0, speed 0", 1), ("kmeans", "4", 1),
            ("factorized", "0.01", 1), ("hyperprior", "0.01", 1), ("gan", "search", 2), ("gan", "search", 1),
            ("gan", "hybrid", 2), ("gan", "hybrid", 1), ("gan", "encoder", 2)} <= rows
    assert ("gan", "decode") in {(c, m) for c, m, _ in rows} and ("gan_ladder", "target ssim>=0.9", 2) in rows
    assert "gan_residual" in set(speed.codec)  # the layered codec with the run's middle residual coder
    timed = speed[speed["mode"] != "decode"]
    assert (pd.to_numeric(timed.encode_ms_per_image) > 0).all() and (speed.decode_ms_per_image > 0).all()
    assert speed.ssim.between(-1, 1).all() and (speed.bpp > 0).all()
    assert "peak resident memory" in done.stdout


def test_realism_study_scores_every_decoded_set_with_its_references(smoke):
    """04c: every codec, parameter and split of rd.csv has accuracy, agreement, KID and FID on all
    its images; the references are there, and the originals agree with themselves."""
    work, _ = smoke
    table = pd.read_csv(work / "runs/smoke/realism.csv")
    rd = pd.read_csv(work / "reports/smoke/rd.csv")
    assert set(zip(rd.codec, rd.param.fillna(-1).round(6), rd.split)) <= set(
        zip(table.codec, table.param.fillna(-1).round(6), table.split))
    assert set(realism.REFERENCES) <= set(table.codec)
    coded = table[~table.codec.isin(realism.REFERENCES)]
    assert coded[["accuracy", "agreement", "kid", "kid_std", "fid"]].notna().all().all()
    originals = table[table.codec == "original"]
    assert (originals.agreement == 1.0).all() and (originals.n_images == 12).all()
