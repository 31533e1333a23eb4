"""Command line: compress images to GAN-reversal latent files and back.

    python -m ganlib compress IMAGE [IMAGE ...] | FOLDER -o OUT [--run DIR] [--init random|encoder] [--bits B] ...
    python -m ganlib decompress FILE [FILE ...] | FOLDER -o OUT [--run DIR]

One input file: OUT is the file to write (replaced if it exists), or an existing directory to
write NAME.gan (NAME.png) into. Several inputs or a folder: OUT is a directory, created if
missing; a folder's relative paths are mirrored (FOLDER/a/b.png -> OUT/a/b.gan), other files go
to OUT/NAME.gan. Outputs that already exist are skipped (--overwrite replaces them), so an
interrupted run resumes where it stopped; a file that cannot be read is reported in one line and
skipped, the rest go on. Nothing is ever written over an input, an existing output that is not a
regular file (a device, a FIFO) is refused, and every output path is checked before the search
starts. ``decompress`` does not replace an image beside its latent file with the same name
(``D/x.png`` from ``D/x.gan``, the original after ``compress D -o D``) unless
``--overwrite-originals`` is given. Each file is written atomically: an interrupted run leaves no
partial file. Inputs are read only if they are regular files (a FIFO or a device is refused
without waiting), and with a bound: a latent file's format maximum, 256 MiB for an image.

``--run`` names a directory holding a trained generator (``generator.safetensors`` and
``generator.json``) and, optionally, its encoder (``encoder.safetensors``) and latent prior
(``prior.json``): by default the shipped model ``models/``; ``make train`` and ``make encoder``
write ``runs/<profile>/``. With an encoder the search starts from its guess and is short
(``--init encoder``, the default when the run has one); ``--init random`` runs the full search
from random starts. Latent files are coded under the run's prior; a run without ``prior.json``
(from before latent format version 2) falls back to the unit prior N(0, 1) with a warning
(files a few bytes larger; ``make encoder`` fits the prior). Decompressing takes files made
with the run's prior or with the unit prior.

Images are converted to what the generator makes: colour to grayscale (Pillow's ITU-R 601-2
luma) or grayscale to RGB, 16-bit samples scaled to 8 bits, alpha dropped; an image of another
size is refused unless ``--resize`` is given (centre crop to a square, then Lanczos resize). The
decompressed PNG is exactly the image the report scores for that file.

Exit status: 0 everything written (or skipped as existing); 1 a latent file is invalid
(truncated, corrupted, foreign, or made with another generator); 2 bad arguments, an input that is
not a regular file or cannot be read, an unreadable image, unusable model files or an output path
that cannot be written; 130 interrupted (Ctrl-C). When several files fail for different reasons,
the larger status. Every failure is one line on stderr, ``error: <file>: <what is wrong>``, with
control characters and undecodable bytes of file names backslash-escaped.
"""
from __future__ import annotations

import argparse
import dataclasses
import errno
import hashlib
import os
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ganlib.codecs.gan import GanCodec
from ganlib.core import distributed, files, params, paths, runtime
from ganlib.data import datasets
from ganlib.evaluation import metrics
from ganlib.formats import latent_format
from ganlib.inversion import modes
from ganlib.inversion.invert import OPTIMIZERS, InversionConfig
from ganlib.models import encoder as encoders
from ganlib.models import prior as priors
from ganlib.models.checkpoints import load_generator
from ganlib.models.losses import LOSSES

EXIT_OK, EXIT_BAD_FILE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
LATENT_SUFFIX, IMAGE_SUFFIX = ".gan", ".png"


class UsageError(ValueError):
    """Bad arguments or an output path that cannot be written (exit status 2)."""


def default_run() -> Path:
    """The shipped model: ``models/`` at the project root."""
    return paths.project_root() / "models"


read_image = datasets.read_image  # the one image reader, shared with the folder data set


def say(message: str) -> None:
    """One line on stderr that does not break a progress bar; file names in it are escaped
    (:func:`ganlib.core.params.printable`), so a crafted name cannot break or forge a line."""
    tqdm.write(params.printable(message), file=sys.stderr)


def describe(exc: BaseException) -> str:
    """One line for an OSError: ``<file>: <reason>``."""
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        return f"{where}: {exc.strerror}" if where != "" else exc.strerror
    return params.one_line(exc)


# ---------------------------------------------------------------- inputs and outputs
@dataclass(frozen=True)
class Job:
    src: Path
    dst: Path
    key: str = ""  # the input's path relative to its folder (its name for a file given alone): seeds its random starts


def file_seed(seed: int, key: str) -> int:
    """The seed of one file's random starts: from ``--seed`` and the file's relative path, so a file
    gets the same starts whichever batch, process or resumed run compresses it."""
    key = f"{seed}:{key}".encode("utf-8", "surrogateescape")  # a name's undecodable bytes as they are
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") >> 1


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long, a loop of links: not a directory
        return False


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


def _name_max(directory: Path) -> int:
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def check_output(dst: Path) -> None:
    """Refuse, before any work, an output path that cannot be written: a directory or another file
    that is not a regular file (a device, a FIFO), a name longer than the file system allows, or a
    place below a regular file, on a read-only file system or in a directory not writable."""
    ancestor = dst.parent
    while not _exists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not _is_dir(ancestor):
        raise UsageError(f"{dst}: cannot be created, {ancestor} is not a directory")
    for part in [p for p in (dst, *dst.parents) if not _exists(p)]:
        if len(os.fsencode(part.name)) > _name_max(ancestor):
            raise UsageError(f"{str(dst)[:80]}...: the name {part.name[:24]}... is {len(os.fsencode(part.name))} "
                             f"bytes, longer than the file system allows ({_name_max(ancestor)})")
    if _is_dir(dst):
        raise UsageError(f"{dst}: is a directory; give a file name")
    try:
        mode = os.stat(dst).st_mode
    except OSError:
        mode = stat.S_IFREG  # nothing there (or a dangling link): written as a new file
    if not stat.S_ISREG(mode):
        raise UsageError(f"{dst}: is {files.KINDS.get(stat.S_IFMT(mode), 'a special file')}, not a regular file; "
                         "refusing to replace it")
    if os.statvfs(ancestor).f_flag & os.ST_RDONLY:
        raise UsageError(f"{dst}: cannot write in {ancestor} (read-only file system)")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"{dst}: cannot write in {ancestor} (permission denied)")


def plan(inputs: list[str], output: str, suffixes: tuple[str, ...], out_suffix: str, what: str
         ) -> tuple[list[Job], bool]:
    """(one job per input file, batch mode?) from the command line's inputs and ``-o``, every
    output checked (:func:`check_output`) and none of them an input."""
    out = Path(output)
    sources = [Path(s) for s in inputs]
    for src in sources:
        try:
            os.stat(src)
        except OSError as exc:  # missing, a loop of symbolic links, ...
            raise UsageError(f"{src}: {(exc.strerror or 'cannot be read').lower()}") from None
    batch = len(sources) > 1 or sources[0].is_dir()
    jobs: list[Job] = []
    if not batch:
        src = sources[0]
        into = _is_dir(out) or output.endswith(("/", os.sep))
        jobs.append(Job(src, out / (src.stem + out_suffix) if into else out, src.name))
    else:
        if _exists(out) and not _is_dir(out):
            raise UsageError(f"{out}: is not a directory; with several inputs or a folder, -o names a directory")
        for src in sources:
            if src.is_dir():
                found = datasets.image_files(src, suffixes, exclude=out)
                if not found:
                    say(f"warning: {src}: holds no {what} ({', '.join(suffixes)})")
                jobs += [Job(f, out / f.relative_to(src).with_suffix(out_suffix), f.relative_to(src).as_posix())
                         for f in found]
            else:
                jobs.append(Job(src, out / (src.stem + out_suffix), src.name))
        if not jobs:
            raise UsageError(f"no {what} to do in {', '.join(inputs)}")
    identities = {_identity(job.src) for job in jobs}
    for job in jobs:
        if _identity(job.dst) in identities:
            raise UsageError(f"{job.dst}: is an input; refusing to write over it (give another -o)")
    by_output: dict[Path, Path] = {}
    for job in jobs:
        key = Path(os.path.abspath(job.dst))
        if key in by_output:
            raise UsageError(f"{by_output[key]} and {job.src} would both be written to {job.dst}; rename one")
        by_output[key] = job.src
        check_output(job.dst)
    return jobs, batch


def _identity(path: Path):
    """What a path refers to: (device, inode) if it exists, else its resolved path."""
    try:
        st = path.stat()
        return st.st_dev, st.st_ino
    except OSError:
        return str(path.resolve())


def write_output(path: Path, data: bytes | np.ndarray) -> None:
    """Write latent file bytes, or an image as PNG, atomically; an OSError names ``path``, or the
    folder it should go in when that is no longer a directory (replaced by a file mid-run)."""
    try:
        if isinstance(data, bytes):
            files.write_bytes(path, data)
        else:
            with files.atomic_path(path) as tmp:
                Image.fromarray(data[..., 0] if data.shape[2] == 1 else data).save(tmp, format="PNG")
    except OSError as exc:
        folder = next((p for p in path.parents if _exists(p) and not _is_dir(p)), None)
        if folder is not None:
            raise OSError(errno.ENOTDIR, "the output folder is no longer a directory (replaced by a file?)",
                          str(folder)) from None
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None


def chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def pending(jobs: list[Job], batch: bool, overwrite: bool) -> tuple[list[Job], int]:
    """The jobs to do and how many were skipped because their output exists (batch mode only)."""
    if not batch or overwrite:
        return jobs, 0
    todo = [j for j in jobs if not j.dst.exists()]
    return todo, len(jobs) - len(todo)


# ---------------------------------------------------------------- the model
def load_model(args, init: str | None = None) -> tuple:
    """(generator, encoder or None) of ``--run``. ``init``: "random" loads no encoder, "encoder"
    requires one, None takes the run's encoder if it has one."""
    run = Path(args.run) if args.run else default_run()
    if args.run is None and not paths.RunDir(run).generator.exists():
        raise UsageError(f"{run}: the shipped model is missing from this copy of the project; "
                         "give --run runs/<profile> (written by make train PROFILE=<profile>)")
    try:
        if not stat.S_ISDIR(os.stat(run).st_mode):
            raise UsageError(f"{run}: --run must be a directory holding generator.safetensors")
    except FileNotFoundError:
        pass  # load_generator says what writes one
    except OSError as exc:  # a loop of symbolic links, a name too long, ...
        raise UsageError(f"{run}: --run cannot be used ({exc.strerror})") from None
    G = load_generator(run)
    if init == "random":
        return G, None
    try:
        E = encoders.load_encoder(run, G)
    except Exception as exc:  # noqa: BLE001 - another generator's encoder, or safetensors/JSON/torch errors
        message = describe(exc)
        if not message.startswith(str(run)):
            message = f"{paths.RunDir(run).encoder}: cannot load the encoder ({message})"
        raise UsageError(message) from None
    if E is None and init == "encoder":
        raise UsageError(f"--init encoder: {run} has no encoder.safetensors (make encoder writes one); "
                         "use --init random")
    return G, E


def load_prior(args, G, warn: bool) -> latent_format.LatentModel | None:
    """The latent prior of ``--run`` (``prior.json``), or None when the run has none: then the files
    are coded under the unit prior, and ``warn`` says so on stderr."""
    run = Path(args.run) if args.run else default_run()
    try:
        prior = priors.load(run, G, missing="none")
    except (priors.PriorError, OSError) as exc:
        raise UsageError(describe(exc)) from None
    if prior is None and warn:
        profile = run.name if run.parent.name == "runs" else "<profile>"
        say(f"warning: {run} has no {paths.PRIOR}: coding under the unit prior N(0, 1), files are a few bytes "
            f"larger (make encoder PROFILE={profile} fits the run's prior)")
    return prior


def mode_config(encoder: bool, optimizer: str | None = None, **given) -> InversionConfig:
    """The mode the report measures (03b_tradeoff) that the command line runs: the hybrid from the
    encoder's guess (:func:`ganlib.inversion.modes.hybrid_config`) or the search from random starts
    (:func:`ganlib.inversion.modes.search_config`), with ``optimizer`` (None: the mode's) and its
    default step count unless ``given`` has ``steps``; then the other options ``given`` (restarts,
    lr, refine_steps, rate_lambda, z_range) replace the mode's."""
    make, own = (modes.hybrid_config, ("loss", "steps", "seed")) if encoder else \
        (modes.search_config, ("loss", "steps", "restarts", "seed"))
    config = make(**{name: given.pop(name) for name in own if name in given},
                  **({"optimizer": optimizer} if optimizer is not None else {}))
    return dataclasses.replace(config, **given)


def inversion_config(args, encoder, prior: latent_format.LatentModel | None = None) -> InversionConfig:
    """The search settings (:func:`mode_config`) with the options given on the command line; the
    quantizer range is the model's."""
    given = {name: getattr(args, name) for name in ("steps", "restarts", "lr", "refine_steps")
             if getattr(args, name) is not None}
    return mode_config(encoder is not None, args.optimizer, loss=args.loss, seed=args.seed,
                       rate_lambda=args.rate_lambda, **given,
                       **({"z_range": prior.z_range} if prior is not None else {}))


def mode_defaults(field: str) -> str:
    """``field``'s default in each mode the command line runs, for --help: "1 from the encoder; 4 from
    random starts", or per optimizer (the mode's own first) where they differ: "40 with lbfgs or 100
    with adam from the encoder; ..."."""
    parts = []
    for encoder, start in ((True, "from the encoder"), (False, "from random starts")):
        first = mode_config(encoder)
        configs = [first] + [mode_config(encoder, o) for o in OPTIMIZERS if o != first.optimizer]
        values = [getattr(c, field) for c in configs]
        each = ([f"{values[0]}"] if len(set(values)) == 1
                else [f"{v} with {c.optimizer}" for v, c in zip(values, configs)])
        parts.append(f"{' or '.join(each)} {start}")
    return "; ".join(parts)


# ---------------------------------------------------------------- compress
def compress(args) -> int:
    """Compress one image, several or a folder. Under torchrun with several processes (a folder or
    several files), each process takes every n-th file of the sorted list (:func:`ganlib.core.distributed.shard`),
    skips those whose output exists, and rank 0 shows the progress and the summary for all."""
    params.int_range("--batch", args.batch, 1, 4096)
    params.int_range("--bits", args.bits, 1, 16)
    jobs, batch = plan(args.inputs, args.output, datasets.IMAGE_SUFFIXES, LATENT_SUFFIX, "images")
    if not batch and not distributed.is_main():
        return EXIT_OK  # one file: rank 0's
    G, E = load_model(args, args.init)
    prior = load_prior(args, G, warn=distributed.is_main())
    config = inversion_config(args, E, prior)
    cfg = G.config
    several = batch and distributed.init(timeout_s=7 * 24 * 3600)  # early ranks wait for the last at the end
    runtime.setup(args.seed, threads=max(1, 2 // distributed.local_world_size()) if several else 2)
    gan = GanCodec(G, args.bits, config, encoder=E, progress=not batch, prior=prior)
    def seeds(chunk: list[Job]) -> list[int] | None:  # random starts per file; the encoder needs none
        return [file_seed(args.seed, j.key) for j in chunk] if config.init == "random" else None
    if not batch:
        job = jobs[0]
        image = read_image(job.src, cfg.image_size, cfg.channels, args.resize)
        blob = gan.encode_batch(image[None], seeds(jobs))[0]
        write_output(job.dst, blob)
        decoded = gan.decode(job.dst.read_bytes())
        say(f"wrote {job.dst}: {len(blob)} bytes ({metrics.bpp(len(blob), image.shape):.3f} bpp), "
            f"SSIM {metrics.ssim(image, decoded):.4f}, PSNR {metrics.psnr(image, decoded):.2f} dB "
            f"({config.init} start{'s' if config.restarts > 1 else ''}, {config.steps} steps)")
        return EXIT_OK
    try:
        status = _compress_batch(args, gan, jobs, several, seeds, config)
    except BaseException:
        distributed.destroy(wait=False)
        raise
    distributed.destroy()
    return status


def _compress_batch(args, gan: GanCodec, jobs: list[Job], several: bool, seeds, config: InversionConfig) -> int:
    cfg = gan.G.config
    mine = distributed.shard(jobs) if several else jobs
    todo, skipped = pending(mine, True, args.overwrite)
    own = set(mine)
    others = ([j for j in pending(jobs, True, args.overwrite)[0] if j not in own]
              if several and distributed.is_main() else [])  # rank 0 shows their progress too
    total = int(distributed.total(len(todo)))
    status, written, sizes, ssims = EXIT_OK, 0, [], []
    bar = runtime.progress(None, desc="compress", total=total, unit="image", disable=not distributed.is_main())
    start = last_poll = time.perf_counter()
    try:
        for chunk in chunks(todo, args.batch):
            ready, images = [], []
            for job in chunk:
                try:
                    images.append(read_image(job.src, cfg.image_size, cfg.channels, args.resize))
                    ready.append(job)
                except datasets.ImageError as exc:
                    say(f"error: {exc}")
                    status = max(status, EXIT_USAGE)
            if images:
                images = np.stack(images)
                blobs = gan.encode_batch(images, seeds(ready))
                decoded = gan.decode_batch(blobs)
                for job, blob, image, back in zip(ready, blobs, images, decoded):
                    try:
                        write_output(job.dst, blob)
                    except OSError as exc:
                        say(f"error: {describe(exc)}")
                        status = max(status, EXIT_USAGE)
                        continue
                    written += 1
                    sizes.append(len(blob))
                    ssims.append(metrics.ssim(image, back))
            bar.update(len(chunk))
            if others and time.perf_counter() - last_poll > 2:  # rank 0 counts the other ranks' files done
                remaining = [j for j in others if not j.dst.exists()]
                bar.update(len(others) - len(remaining))
                others = remaining
                last_poll = time.perf_counter()
    finally:
        bar.close()
    failed = len(todo) - written
    if several:
        sums = distributed.mean(torch.tensor([written, skipped, failed, sum(sizes), sum(ssims), status],
                                             dtype=torch.float64)) * distributed.world_size()
        status = int(distributed.maximum(status))
        written, skipped, failed = (int(round(v)) for v in sums[:3].tolist())
        size_mean, ssim_mean = (sums[3] / written, sums[4] / written) if written else (0.0, 0.0)
    else:
        size_mean, ssim_mean = (float(np.mean(sizes)), float(np.mean(ssims))) if sizes else (0.0, 0.0)
    seconds = time.perf_counter() - start
    if not distributed.is_main():
        return status
    mean = f" (mean {size_mean:.1f} bytes, SSIM {ssim_mean:.4f})" if written else ""
    procs = f" in {distributed.world_size()} processes" if several else ""
    say(f"wrote {written} latent file{'s' * (written != 1)} to {args.output}{mean}; "
        f"skipped {skipped} that exist{'ed' if skipped == 1 else ''}; {failed} failed "
        f"({config.init} start{'s' if config.restarts > 1 else ''}, {config.steps} steps; "
        f"{seconds:.1f} s, {written / seconds if seconds > 0 else 0:.2f} images/s{procs})")
    return status


# ---------------------------------------------------------------- decompress
def read_latent(path: Path) -> bytes:
    """A latent file's bytes (:func:`ganlib.core.files.read_regular`): one longer than any valid file
    is refused unread (CodecError), a FIFO, device or directory too (OSError)."""
    try:
        return files.read_regular(path, latent_format.MAX_FILE_BYTES)
    except files.FileTooLong as exc:
        raise latent_format.CodecError(f"{path}: file of {exc.size:,} bytes is longer than any valid latent file "
                                       f"(at most {latent_format.MAX_FILE_BYTES:,} bytes)") from None


def checked_latent(gan: GanCodec, path: Path) -> bytes:
    """Read a latent file and check its header against the generator, before any payload is decoded."""
    blob = read_latent(path)
    try:
        gan.check(latent_format.read_header(blob))
    except latent_format.CodecError as exc:
        raise latent_format.CodecError(f"{path}: {exc}") from None
    return blob


def check_originals(replaced: list[Job]) -> None:
    """Refuse to replace an existing image that lies beside its latent file with the same name
    (``D/x.gan`` -> ``D/x.png``): after ``compress D -o D`` that is the original image."""
    for job in replaced:
        if (_exists(job.dst) and job.dst.stem == job.src.stem
                and _identity(job.dst.parent) == _identity(job.src.parent)):
            raise UsageError(f"{job.dst}: lies beside {job.src.name} and may be the image it was compressed from; "
                             "refusing to replace it (give another -o, or --overwrite-originals)")


def decompress(args) -> int:
    """Decompress latent files (one generator pass per batch, on the CPU). Under torchrun, rank 0
    alone does it (decoding is fast; the other processes exit with status 0)."""
    params.int_range("--batch", args.batch, 1, 4096)
    jobs, batch = plan(args.inputs, args.output, (LATENT_SUFFIX,), IMAGE_SUFFIX, "latent files")
    if not args.overwrite_originals:
        check_originals(jobs if not batch or args.overwrite else [])
    if not distributed.is_main():
        return EXIT_OK
    G, _ = load_model(args, "random")
    prior = load_prior(args, G, warn=False)
    runtime.setup(0)
    gan = GanCodec(G, config=InversionConfig(**({"z_range": prior.z_range} if prior is not None else {})),
                   prior=prior)
    if not batch:
        job = jobs[0]
        blob = checked_latent(gan, job.src)
        try:
            image = gan.decode(blob)
        except latent_format.CodecError as exc:
            raise latent_format.CodecError(f"{job.src}: {exc}") from None
        write_output(job.dst, image)
        say(f"wrote {job.dst}: {image.shape[1]}x{image.shape[0]}x{image.shape[2]}")
        return EXIT_OK
    todo, skipped = pending(jobs, batch, args.overwrite)
    status, written = EXIT_OK, 0
    bar = runtime.progress(None, desc="decompress", total=len(todo), unit="file")
    try:
        for chunk in chunks(todo, args.batch):
            ready, blobs = [], []
            for job in chunk:
                try:
                    blobs.append(checked_latent(gan, job.src))
                    ready.append(job)
                except latent_format.CodecError as exc:
                    say(f"error: {exc}")
                    status = max(status, EXIT_BAD_FILE)
                except OSError as exc:
                    say(f"error: {describe(exc)}")
                    status = max(status, EXIT_USAGE)
            decoded = _decode_chunk(gan, ready, blobs)
            for job, image in decoded:
                if image is None:
                    status = max(status, EXIT_BAD_FILE)
                    continue
                try:
                    write_output(job.dst, image)
                    written += 1
                except OSError as exc:
                    say(f"error: {describe(exc)}")
                    status = max(status, EXIT_USAGE)
            bar.update(len(chunk))
    finally:
        bar.close()
    say(f"wrote {written} image{'s' * (written != 1)} to {args.output}; skipped {skipped} that "
        f"exist{'ed' if skipped == 1 else ''}; {len(todo) - written} failed")
    return status


def _decode_chunk(gan: GanCodec, jobs: list[Job], blobs: list[bytes]) -> list[tuple[Job, np.ndarray | None]]:
    """One generator pass for the chunk; if a file in it is invalid, file by file so only that one fails."""
    if not blobs:
        return []
    try:
        return list(zip(jobs, gan.decode_batch(blobs)))
    except latent_format.CodecError:
        out = []
        for job, blob in zip(jobs, blobs):
            try:
                out.append((job, gan.decode(blob)))
            except latent_format.CodecError as exc:
                say(f"error: {job.src}: {exc}")
                out.append((job, None))
        return out


# ---------------------------------------------------------------- arguments
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ganlib", description="GAN-reversal image latent_format.",
                                epilog=__doc__.split("\n\n", 2)[2],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    run_help = (f"directory with the generator (and encoder) to use (default: the shipped model, {default_run()}); "
                "under torchrun spell it --run-dir (torchrun's own parser takes --run for its --run-path)")
    c = sub.add_parser("compress", help="images -> latent files")
    c.add_argument("inputs", nargs="+", metavar="IMAGE|FOLDER", help="images (PNG, JPEG, ...) or folders of images")
    c.add_argument("-o", "--output", required=True, help="latent file to write (one image), or directory")
    c.add_argument("--run", "--run-dir", dest="run", default=None, help=run_help)
    c.add_argument("--init", choices=("random", "encoder"), default=None,
                   help="start the search from the encoder's guess (default when the run has an encoder) "
                        "or from random starts (the full search)")
    c.add_argument("--loss", default=mode_config(True).loss, choices=LOSSES,
                   help="what the latent search minimises (default: %(default)s)")
    c.add_argument("--optimizer", choices=OPTIMIZERS, default=None,
                   help=f"optimizer of the latent search (default: {mode_config(True).optimizer} from the encoder, "
                        f"{mode_config(False).optimizer} from random starts)")
    c.add_argument("--steps", type=int, default=None,
                   help=f"steps of the latent search, one evaluation of the loss each (default: "
                        f"{mode_defaults('steps')}; step counts the report measures)")
    c.add_argument("--bits", type=int, default=8, help="bits per latent dimension, 1..16 (default: %(default)s)")
    c.add_argument("--lr", type=float, default=None,
                   help=f"Adam's initial learning rate, or L-BFGS's largest first move of a coordinate (default: "
                        f"{mode_defaults('lr')})")
    c.add_argument("--restarts", type=int, default=None,
                   help=f"random starts (default: {mode_defaults('restarts')})")
    c.add_argument("--refine-steps", type=int, default=None,
                   help=f"quantization-aware refinement steps (default: {mode_defaults('refine_steps')})")
    c.add_argument("--rate-lambda", type=float, default=mode_config(True).rate_lambda,
                   help="weight of the latent's bits in the search's loss: larger values make smaller files of "
                        "lower quality (try 0.0003 to 0.003; default: %(default)s, quality only)")
    c.add_argument("--seed", type=int, default=mode_config(False).seed,
                   help="seed of the random starts (default: %(default)s)")
    c.add_argument("--resize", action="store_true", help="centre-crop and resize images of another size")
    c.add_argument("--batch", type=int, default=64, help="images searched at once (default: %(default)s)")
    c.add_argument("--overwrite", action="store_true", help="replace outputs that exist (default: skip them)")
    c.set_defaults(func=compress)
    d = sub.add_parser("decompress", help="latent files -> PNG images")
    d.add_argument("inputs", nargs="+", metavar="FILE|FOLDER", help="latent files or folders of .gan files")
    d.add_argument("-o", "--output", required=True, help="PNG to write (one file), or directory")
    d.add_argument("--run", "--run-dir", dest="run", default=None, help=run_help)
    d.add_argument("--batch", type=int, default=64, help="files decoded in one generator pass (default: %(default)s)")
    d.add_argument("--overwrite", action="store_true", help="replace outputs that exist (default: skip them)")
    d.add_argument("--overwrite-originals", action="store_true",
                   help="also replace an image beside its latent file with the same name (D/x.png from D/x.gan: "
                        "after compress D -o D, the original), which is refused otherwise")
    d.set_defaults(func=decompress)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        say("interrupted: every file written is complete and nothing partial was left; "
            "run the same command again to go on")
        return EXIT_INTERRUPTED
    except latent_format.CodecError as exc:
        say(f"error: {exc}")
        return EXIT_BAD_FILE
    except OSError as exc:
        say(f"error: {describe(exc)}")
        return EXIT_USAGE
    except ValueError as exc:
        say(f"error: {params.one_line(exc)}")
        return EXIT_USAGE
