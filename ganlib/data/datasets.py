"""Data sets: Fashion-MNIST from IDX files, any folder of images, or coloured shapes drawn here;
the one image reader.

Images everywhere are ``uint8`` arrays of shape ``(N, H, W, C)`` with values 0..255.
Raw data is read, never modified; prepared arrays go to ``runs/<profile>/data.npz``.
:func:`read_image` reads an image file for the folder data set and the command line alike.
"""
from __future__ import annotations

import argparse
import gzip
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError
from tqdm.std import tqdm

from ganlib.core import files, params, paths

DATASETS = ("fashion_mnist", "folder", "shapes")
IMAGE_SIZES = (28, 32, 64, 128)  # the sides data sets and the model family (ganlib.models.nets) support
CHANNELS = (1, 3)
SHAPES_IMAGES = 4096  # default number of images of the shapes data set
SPLITS = ("seen", "unseen")
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"
IDX_FILES = {
    "train": "train-images-idx3-ubyte",
    "test": "t10k-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")  # folder data sets and the CLI
MAX_IMAGE_BYTES = 1 << 28  # 256 MiB: the longest image file read (Pillow's pixel limit is ~268 MB of RGB)
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")  # Fashion-MNIST's labels 0..9
MIN_PER_SPLIT = 2  # seen-versus-unseen statistics (variance, confidence interval, p-value) need 2 images a split


class DataError(RuntimeError):
    """The data set could not be found or read."""


class ImageError(ValueError):
    """An image file cannot be read, or cannot be used as asked; the message names the file."""


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a uint8 array of its stored shape."""
    path = Path(path)
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if len(raw) < 4 or raw[0:2] != b"\x00\x00" or raw[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    start = 4 + 4 * ndim
    if len(raw) - start != int(np.prod(dims)):
        raise DataError(f"{path} is truncated: header says {dims}, data has {len(raw) - start} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(dims)


def _idx_path(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    # torchvision keeps them under FashionMNIST/raw/
    for found in sorted(directory.glob(f"**/{stem}*")):
        if found.name in (stem, stem + ".gz"):
            return found
    return None


def find_idx_dir(directory: str | Path | None) -> Path | None:
    """Return the directory holding the four Fashion-MNIST IDX files below ``directory``."""
    if not directory or not Path(directory).is_dir():
        return None
    found = [_idx_path(Path(directory), stem) for stem in IDX_FILES.values()]
    return found[0].parent if all(found) else None


def _fetch_debian(dest: Path) -> Path | None:
    """``apt-get download`` the Debian package and unpack it (no root needed)."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run(["apt-get", "download", DEBIAN_PACKAGE], cwd=tmp, check=True,
                           capture_output=True, timeout=600)
            deb = next(Path(tmp).glob("*.deb"))
            subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")], check=True,
                           capture_output=True, timeout=600)
        except (subprocess.SubprocessError, StopIteration, OSError):
            return None
        unpacked = Path(tmp) / "x" / DEBIAN_DIR.relative_to("/")
        if find_idx_dir(unpacked) is None:
            return None
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".fetch-"))
        shutil.copytree(unpacked, staging, dirs_exist_ok=True)
        staging.replace(dest)
    return dest


def _fetch_torchvision(dest: Path) -> Path | None:
    try:
        from torchvision.datasets import FashionMNIST  # here: the last-resort download, rarely needed

        FashionMNIST(str(dest), train=True, download=True)
        FashionMNIST(str(dest), train=False, download=True)
    except Exception:  # noqa: BLE001 - any failure means: try the next source
        return None
    return find_idx_dir(dest)


def locate_fashion_mnist(data_dir: str | None = None) -> Path:
    """Find the Fashion-MNIST IDX files, fetching them if needed (see docs/pipeline.md, "Data")."""
    cache = paths.data_cache_dir()
    for candidate in (data_dir, DEBIAN_DIR, cache / "fashion-mnist", cache / "torchvision"):
        found = find_idx_dir(candidate)
        if found:
            return found
    for fetch, dest in ((_fetch_debian, cache / "fashion-mnist"), (_fetch_torchvision, cache / "torchvision")):
        if fetch(dest) is not None and find_idx_dir(dest):
            return find_idx_dir(dest)
    raise DataError(
        "Fashion-MNIST not found. Provide it in one of these ways: set data_dir to a directory "
        "holding the four IDX files (train/t10k images and labels, optionally .gz); install the "
        f"Debian package ({DEBIAN_PACKAGE}, files in {DEBIAN_DIR}); let `apt-get download "
        f"{DEBIAN_PACKAGE}` reach a Debian mirror; or let torchvision download it."
    )


def to_hwc(images: np.ndarray) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) uint8 -> (N, H, W, C)."""
    return images[..., None] if images.ndim == 3 else images


def prepare(image: Image.Image, image_size: int, channels: int) -> np.ndarray:
    """Centre-crop a PIL image to a square, resize to ``image_size`` and convert to
    ``channels`` (1 = grayscale, 3 = RGB). Returns uint8 (image_size, image_size, channels)."""
    image = image.convert("L" if channels == 1 else "RGB")
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    image = image.crop((left, top, left + side, top + side))
    if side != image_size:
        image = image.resize((image_size, image_size), Image.Resampling.LANCZOS)
    return to_hwc(np.asarray(image, dtype=np.uint8)[None])[0]


def open_image(path: str | Path) -> Image.Image:
    """Read an image file fully into memory as a PIL image of mode ``L`` or ``RGB``, upright (its
    EXIF orientation applied): 16-bit (and 32-bit integer) samples scaled to 8 bits (value * 255 /
    65535, rounded), palette, bilevel, CMYK and alpha images converted to RGB (alpha dropped).
    Only a regular file of at most :data:`MAX_IMAGE_BYTES` is read (a FIFO or device is refused
    without waiting). :class:`ImageError`, naming the file, for anything else: not an image,
    truncated, floating-point samples, or more pixels than Pillow's decompression-bomb limit
    (``PIL.Image.MAX_IMAGE_PIXELS``, 89,478,485 by default). Pillow's warnings while reading it
    become one ``warning:`` line each naming the file (:func:`warn`)."""
    path = Path(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        im = _decode(path)
    for message in dict.fromkeys(params.one_line(w.message) for w in caught):
        warn(f"{path}: {message}")
    return im


def _decode(path: Path) -> Image.Image:
    """:func:`open_image` without its handling of warnings."""
    try:
        data = files.read_regular(path, MAX_IMAGE_BYTES)
    except OSError as exc:
        raise ImageError(f"{path}: cannot read it ({params.one_line(exc)})") from None
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f" ({int(found.group(1)):,} pixels)" if found else ""
        raise ImageError(f"{path}: refused, a possible decompression bomb{size}: more pixels than "
                         f"Pillow's limit of {Image.MAX_IMAGE_PIXELS:,}") from None
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise OSError, SyntaxError, ValueError, ...
        reason = ("cannot identify image file" if isinstance(exc, UnidentifiedImageError)
                  else str(exc).split("\n")[0] or type(exc).__name__)
        raise ImageError(f"{path}: cannot read it as an image ({reason})") from None
    if im.mode.startswith("I;16") or im.mode == "I":
        raw = np.asarray(im, dtype=np.float64)
        im = Image.fromarray(np.clip(np.round(raw * 255 / 65535), 0, 255).astype(np.uint8), "L")
    elif im.mode == "F":
        raise ImageError(f"{path}: floating-point images (mode F) are not supported; give an 8- or 16-bit image")
    elif im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    return im


def read_image(path: str | Path, image_size: int, channels: int, resize: bool = True) -> np.ndarray:
    """Read an image file (:func:`open_image`) as uint8 (image_size, image_size, channels):
    colour to grayscale with Pillow's ITU-R 601-2 luma or grayscale to RGB; an image of another
    size is centre-cropped and resized (:func:`prepare`) if ``resize``, else refused."""
    im = open_image(path)
    if im.size != (image_size, image_size) and not resize:
        raise ImageError(f"{path} is {im.size[0]}x{im.size[1]} pixels; this generator makes "
                         f"{image_size}x{image_size}. Pass --resize to centre-crop and resize it.")
    return prepare(im, image_size, channels)


def image_files(folder: str | Path, suffixes=IMAGE_SUFFIXES, exclude: str | Path | None = None) -> list[Path]:
    """Files below ``folder`` whose suffix (any case) is in ``suffixes``, sorted; hidden files
    and folders (name starting with ".") and anything below ``exclude`` are left out, and
    symbolic links to folders are not followed."""
    folder = Path(folder)
    skip = Path(exclude).resolve() if exclude is not None else None
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and (skip is None or (Path(root) / d).resolve() != skip))
        found += [Path(root) / n for n in names if not n.startswith(".") and Path(n).suffix.lower() in suffixes]
    return sorted(found)


def warn(message: str) -> None:
    """One line on stderr, ``warning: message`` (escaped: :func:`ganlib.core.params.printable`), that
    does not break a progress bar."""
    tqdm.write(f"warning: {params.printable(message)}", file=sys.stderr)


def resize_all(images: np.ndarray, image_size: int, channels: int) -> np.ndarray:
    """Apply :func:`prepare` to every image of a (N, H, W, C) uint8 array, if needed."""
    if images.shape[1] == images.shape[2] == image_size and images.shape[3] == channels:
        return images
    mode = "L" if images.shape[3] == 1 else "RGB"
    return np.stack([prepare(Image.fromarray(im.squeeze(-1) if mode == "L" else im, mode), image_size, channels)
                     for im in images])


def load_fashion_mnist(data_dir: str | None, image_size: int, channels: int) -> dict[str, np.ndarray]:
    """Fashion-MNIST train and test images as (N, H, W, C) uint8, resized if asked, their labels
    (``train_labels``, ``test_labels``: int64 0..9) and the class names (``classes``)."""
    root = locate_fashion_mnist(data_dir)
    out = {"classes": np.array(FASHION_CLASSES)}
    for split in ("train", "test"):
        images = to_hwc(read_idx(_idx_path(root, IDX_FILES[split])))
        out[split] = resize_all(images, image_size, channels)
        out[f"{split}_labels"] = read_idx(_idx_path(root, IDX_FILES[f"{split}_labels"])).astype(np.int64)
    return out


def load_folder(data_dir: str, image_size: int, channels: int, unseen_fraction: float, seed: int
                ) -> dict[str, np.ndarray]:
    """Every image below ``data_dir`` (:func:`image_files`), read by :func:`read_image`
    (centre-cropped and resized), split into train and test by a seeded fraction. A file that
    cannot be read is skipped with one warning line naming it, and a count at the end; fewer
    than 2 readable images is an error, fewer than :data:`MIN_PER_SPLIT` in a split a warning."""
    if not data_dir or not Path(data_dir).is_dir():
        raise ValueError(f"data_dir={data_dir!r} is not allowed; for dataset='folder' it must be a directory of images")
    found = image_files(data_dir)
    classes = folder_classes(data_dir, found)
    images, labels, skipped = [], [], 0
    for path in found:
        try:
            images.append(read_image(path, image_size, channels, resize=True))
            labels.append(classes.index(path.relative_to(data_dir).parts[0]) if classes else -1)
        except ImageError as exc:
            warn(f"skipped {exc}")
            skipped += 1
    if skipped:
        warn(f"skipped {skipped} of {len(found)} image files below {data_dir} (unreadable); "
             f"using the other {len(images)}")
    if len(images) < 2:
        raise ValueError(f"data_dir={data_dir!r} is not allowed; it holds {len(images)} readable image(s) "
                         f"({', '.join(IMAGE_SUFFIXES)}); at least 2 are needed, one to train on and one held out")
    return split(np.stack(images), unseen_fraction, seed, np.array(labels) if classes else None, classes)


def folder_classes(folder: str | Path, found: list[Path]) -> list[str]:
    """The classes of a folder data set in the ImageFolder layout: the names of the first-level
    subfolders, sorted, when every image of ``found`` lies in one and there are at least two;
    otherwise none (an empty list: the folder has no labels)."""
    parts = [p.relative_to(folder).parts for p in found]
    names = sorted({p[0] for p in parts if len(p) > 1})
    return names if len(names) > 1 and all(len(p) > 1 for p in parts) else []


def split(images: np.ndarray, unseen_fraction: float, seed: int, labels: np.ndarray | None = None,
          classes: list[str] | tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """``{"train", "test"}``: a seeded share ``unseen_fraction`` of ``images`` held out (at least one,
    and at least one left to train on), with ``train_labels``, ``test_labels`` and ``classes``
    when ``labels`` (int, one per image) are given; warns when a split has fewer than :data:`MIN_PER_SPLIT`."""
    order = np.random.default_rng(seed).permutation(len(images))
    n_test = min(max(1, round(unseen_fraction * len(images))), len(images) - 1)
    if min(n_test, len(images) - n_test) < MIN_PER_SPLIT:
        warn(f"{len(images)} images give {len(images) - n_test} training (seen) and {n_test} held-out (unseen) "
             f"images; comparing seen with unseen images (confidence intervals, p-values) needs at least "
             f"{MIN_PER_SPLIT} in each, so those statistics will be nan. Add images or change unseen_fraction.")
    out = {"train": images[order[n_test:]], "test": images[order[:n_test]]}
    if labels is not None:
        out.update(train_labels=labels[order[n_test:]].astype(np.int64),
                   test_labels=labels[order[:n_test]].astype(np.int64), classes=np.array(classes))
    return out


# ---------------------------------------------------------------- the shapes data set
SHAPE_KINDS = ("ellipse", "rectangle", "triangle", "ring")  # the shapes data set's classes


def draw_shape_image(rng: np.random.Generator, image_size: int) -> tuple[Image.Image, int]:
    """One RGB image of the shapes data set: a two-colour gradient background (random direction),
    one to three filled shapes (ellipse, rectangle, triangle or ring) of saturated colours with a
    dark outline, and sometimes faint diagonal stripes; drawn at twice the size and downsampled
    (anti-aliased). Structure a GAN can learn: few shape kinds, smooth backgrounds, sharp edges.
    Returns the image and its label: the index in :data:`SHAPE_KINDS` of its largest shape."""
    big = 2 * image_size
    c0, c1 = rng.uniform(40, 200, 3), rng.uniform(40, 200, 3)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[:big, :big] / (big - 1) - 0.5
    t = np.clip(0.5 + np.cos(angle) * xx + np.sin(angle) * yy, 0, 1)[..., None]
    canvas = (1 - t) * c0 + t * c1
    if rng.random() < 0.3:  # faint stripes: a texture
        period = rng.uniform(0.08, 0.2) * big
        canvas += 18 * np.sign(np.sin(2 * np.pi * (xx + yy) * big / period))[..., None]
    im = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    largest = (0.0, 0)
    for _ in range(int(rng.integers(1, 4))):
        kind = SHAPE_KINDS[int(rng.integers(len(SHAPE_KINDS)))]
        hue = rng.permutation([rng.uniform(200, 255), rng.uniform(0, 80), rng.uniform(0, 255)])
        fill, outline = tuple(int(v) for v in hue), tuple(int(v * 0.35) for v in hue)
        r = rng.uniform(0.12, 0.3) * big
        cx, cy = rng.uniform(r, big - r, 2)
        largest = max(largest, (r, SHAPE_KINDS.index(kind)))
        line = max(1, big // 32)
        if kind == "ellipse":
            rx, ry = r, r * rng.uniform(0.6, 1.0)
            draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=fill, outline=outline, width=line)
        elif kind == "rectangle":
            w, h = r, r * rng.uniform(0.5, 1.0)
            draw.rectangle((cx - w, cy - h, cx + w, cy + h), fill=fill, outline=outline, width=line)
        elif kind == "triangle":
            a = rng.uniform(0, 2 * np.pi / 3)
            angles = a + np.arange(3) * 2 * np.pi / 3
            points = [(cx + r * np.cos(t), cy + r * np.sin(t)) for t in angles]
            draw.polygon(points, fill=fill, outline=outline, width=line)
        else:
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=fill, width=max(2, int(r * 0.35)))
    return im.resize((image_size, image_size), Image.Resampling.LANCZOS), largest[1]


def shapes_labelled(n_images: int, image_size: int, channels: int = 3, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The project's own colour data set: ``n_images`` uint8 (n, S, S, C) images of coloured shapes
    (:func:`draw_shape_image`), deterministic: image i depends only on (seed, i, image_size), so a
    longer data set starts with the shorter one's images. ``channels`` 1 converts to grayscale.
    Returns the images and their labels (int64 (n,): the largest shape's kind, :data:`SHAPE_KINDS`)."""
    params.int_range("n_images", n_images, 2, 10**7)
    params.choice("image_size", image_size, IMAGE_SIZES)
    params.choice("channels", channels, CHANNELS)
    drawn = [draw_shape_image(np.random.default_rng([seed, i]), image_size) for i in range(n_images)]
    return (np.stack([prepare(im, image_size, channels) for im, _ in drawn]),
            np.array([kind for _, kind in drawn], dtype=np.int64))


def shapes(n_images: int, image_size: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """The images of :func:`shapes_labelled`."""
    return shapes_labelled(n_images, image_size, channels, seed)[0]


def write_shapes(folder: str | Path, n_images: int, image_size: int, channels: int = 3, seed: int = 0) -> list[Path]:
    """Write :func:`shapes` as ``folder/shape_00000.png``, ... (atomically, one PNG per image); a
    folder data set or a folder to compress. Returns the paths, sorted."""
    out = []
    for i, image in enumerate(shapes(n_images, image_size, channels, seed)):
        path = Path(folder) / f"shape_{i:05d}.png"
        with files.atomic_path(path) as tmp:
            Image.fromarray(image[..., 0] if channels == 1 else image).save(tmp, format="PNG")
        out.append(path)
    return out


def load_shapes(n_images: int, image_size: int, channels: int, unseen_fraction: float, seed: int
                ) -> dict[str, np.ndarray]:
    """:func:`shapes_labelled` split into train and test by a seeded fraction (as a folder data set)."""
    images, labels = shapes_labelled(n_images, image_size, channels, seed)
    return split(images, unseen_fraction, seed, labels, SHAPE_KINDS)


def check_params(dataset: str, data_dir: str | None, image_size: int, channels: int,
                 seed: int, unseen_fraction: float = 0.1, n_images: int = SHAPES_IMAGES) -> None:
    params.choice("dataset", dataset, DATASETS)
    params.choice("image_size", image_size, IMAGE_SIZES)
    params.choice("channels", channels, CHANNELS)
    params.int_range("seed", seed, 0, 2**32 - 1)
    params.fraction("unseen_fraction", unseen_fraction)
    if dataset == "shapes":
        params.int_range("n_images", n_images, 2, 10**7)
    if dataset == "fashion_mnist" and data_dir and find_idx_dir(data_dir) is None:
        raise ValueError(f"data_dir={data_dir!r} is not allowed; it does not hold the four Fashion-MNIST IDX files")
    if dataset == "folder":
        if not data_dir or not Path(data_dir).is_dir():
            raise ValueError(f"data_dir={data_dir!r} is not allowed; for dataset='folder' it must be a directory "
                             "of images")
        if not image_files(data_dir):
            raise ValueError(f"data_dir={data_dir!r} is not allowed; it holds no image files "
                             f"({', '.join(IMAGE_SUFFIXES)})")


def load(dataset: str, data_dir: str | None, image_size: int, channels: int, seed: int,
         unseen_fraction: float = 0.1, n_images: int = SHAPES_IMAGES) -> dict[str, np.ndarray]:
    """Load a data set as ``{"train": (N,H,W,C), "test": (M,H,W,C)}`` uint8 (``n_images``: shapes only)."""
    check_params(dataset, data_dir, image_size, channels, seed, unseen_fraction, n_images)
    if dataset == "fashion_mnist":
        return load_fashion_mnist(data_dir, image_size, channels)
    if dataset == "shapes":
        return load_shapes(n_images, image_size, channels, unseen_fraction, seed)
    return load_folder(data_dir, image_size, channels, unseen_fraction, seed)


def save(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    with files.atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def load_prepared(profile: str) -> dict[str, np.ndarray]:
    """The arrays written by 01_data for ``profile``."""
    path = paths.require(paths.run_dir(profile).data, f"notebooks/01_data.ipynb (make data PROFILE={profile})")
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


def eval_images(arrays: dict[str, np.ndarray], split: str, n_images: int, seed: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_images`` evaluation images of ``split``: seen = drawn from the training set,
    unseen = drawn from the held-out set. Same arguments, same images (seeded), in the order of
    one random permutation of the set, so the first k images of any larger draw are the draw of
    k: a subset (the seed's search inverts the first 64) is nested in the large evaluation set.
    Returns (images (n, H, W, C) uint8, their indices in that set)."""
    params.choice("split", split, SPLITS)
    params.int_range("n_images", n_images, 1, 10**6)
    pool = arrays["train" if split == "seen" else "test"]
    ids = np.random.default_rng([seed, SPLITS.index(split)]).permutation(len(pool))[:n_images]
    return pool[ids], ids


def main(argv: list[str] | None = None) -> int:
    """``python -m ganlib.data.datasets FOLDER [--n-images N] [--image-size S] [--channels C] [--seed K]``:
    write the shapes data set as a folder of PNGs (a folder data set, or images to compress)."""
    p = argparse.ArgumentParser(prog="python -m ganlib.data.datasets",
                                description=main.__doc__.split(":", 1)[1].strip())
    p.add_argument("folder")
    p.add_argument("--n-images", type=int, default=SHAPES_IMAGES)
    p.add_argument("--image-size", type=int, default=64, choices=IMAGE_SIZES)
    p.add_argument("--channels", type=int, default=3, choices=CHANNELS)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        written = write_shapes(args.folder, args.n_images, args.image_size, args.channels, args.seed)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} images of {args.image_size}x{args.image_size}x{args.channels} to {args.folder}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
