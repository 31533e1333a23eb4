"""ganlib.evaluation.scoring: the encode -> file -> read back -> decode -> score loop."""
import numpy as np
import pandas as pd
import pytest

from ganlib.codecs import classical
from ganlib.core import paths
from ganlib.evaluation import metrics, scoring


def test_write_and_score_reads_back_what_it_wrote(images, tmp_path):
    codec = classical.codec("jpeg", 10)
    blobs = [codec.encode(im) for im in images[:2]]
    stored = [tmp_path / "a.jpeg", tmp_path / "sub" / "b.jpeg"]
    rows, decoded = scoring.write_and_score(codec, blobs, images[:2], stored)
    assert [p.read_bytes() for p in stored] == blobs
    assert rows[1]["bytes"] == len(blobs[1]) and rows[1]["payload_bytes"] == codec.payload_bytes(blobs[1])
    assert rows[0]["ssim"] == metrics.ssim(images[0], decoded[0]) and decoded.shape == (2, 28, 28, 1)


def test_score_codecs_scores_the_files_on_disk_split_by_codec(images, tmp_path):
    run = paths.RunDir(tmp_path)
    codecs = [classical.codec("jpeg", 10), classical.codec("png"), classical.codec("webp", 0)]
    split_images = {"seen": (np.array([3, 1]), images[[3, 1]]), "unseen": (np.array([7]), images[[7]])}
    table, decoded = scoring.score_codecs(codecs, split_images, run.baseline_file)
    assert list(table.columns[:4]) == ["codec", "param", "split", "image_id"]
    assert list(zip(table.split, table.codec, table.image_id)) == [
        ("seen", "jpeg", 3), ("seen", "jpeg", 1), ("seen", "png", 3), ("seen", "png", 1), ("seen", "webp", 3),
        ("seen", "webp", 1), ("unseen", "jpeg", 7), ("unseen", "png", 7), ("unseen", "webp", 7)]
    assert list(decoded) == ["seen_jpeg10", "seen_png", "seen_webp0", "unseen_jpeg10", "unseen_png", "unseen_webp0"]
    assert len(np.concatenate(list(decoded.values()))) == len(table)  # image i is row i's
    for r in table.itertuples():
        codec = next(c for c in codecs if c.name == r.codec)
        blob = run.baseline_file(codec.id, r.split, r.image_id, codec.name).read_bytes()
        assert r.bytes == len(blob) and r.ssim == metrics.ssim(images[r.image_id], codec.decode(blob))
    assert (table[table.codec == "png"].ssim == 1.0).all()


def test_score_codecs_prepares_once_per_split_and_encodes_with_it(images, tmp_path):
    prepared, seen_by_encode = [], []

    def prepare(originals):
        prepared.append(len(originals))
        return f"shared {len(originals)}"

    def encode(codec, originals, shared):
        seen_by_encode.append(shared)
        return [codec.encode(im) for im in originals]

    codecs = [classical.codec("jpeg", q) for q in (10, 50)]
    split_images = {"unseen": (np.arange(3), images[:3]), "seen": (np.arange(2), images[:2])}
    table, _ = scoring.score_codecs(codecs, split_images, paths.RunDir(tmp_path).residual_file, encode=encode,
                                    prepare=prepare)
    assert prepared == [3, 2] and seen_by_encode == ["shared 3"] * 2 + ["shared 2"] * 2
    assert len(table) == 2 * 3 + 2 * 2 and table.split.iloc[0] == "unseen"


def test_means_per_split_codec_and_parameter_unseen_first():
    rows = pd.DataFrame([{"codec": c, "param": p, "split": s, "image_id": i, "bytes": b, "payload_bytes": b - 10,
                          "bpp": b / 98, "psnr": 20.0 + i, "ssim": 0.5, "ms_ssim": np.nan}
                         for s in ("seen", "unseen") for c, p, b in (("webp", 0, 100), ("jpeg", 10, 200))
                         for i in (0, 1)])
    out = scoring.means(rows)
    assert list(out.columns) == ["split", "codec", "param", *scoring.MEANS]
    assert list(zip(out.split, out.codec)) == [("unseen", "jpeg"), ("unseen", "webp"), ("seen", "jpeg"),
                                               ("seen", "webp")]
    assert out.psnr.tolist() == [20.5] * 4 and out.bytes.tolist() == [200, 100, 200, 100]
    with pytest.raises(KeyError):
        scoring.means(rows.drop(columns="payload_bytes"))


def test_score_codecs_in_worker_processes_gives_the_same_rows(images, tmp_path):
    codecs = [classical.codec("jpeg", 10), classical.codec("webp", 0), classical.codec("kmeans", 4)]
    split_images = {"unseen": (np.array([7, 2, 5]), images[[7, 2, 5]])}
    one, decoded_one = scoring.score_codecs(codecs, split_images, paths.RunDir(tmp_path / "a").baseline_file)
    two, decoded_two = scoring.score_codecs(codecs, split_images, paths.RunDir(tmp_path / "b").baseline_file,
                                            workers=2)
    pd.testing.assert_frame_equal(one, two)
    assert list(decoded_one) == list(decoded_two) and all(v.shape[0] == 3 for v in decoded_two.values())
    assert all(np.array_equal(decoded_one[k], decoded_two[k]) for k in decoded_one)
