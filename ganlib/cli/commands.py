"""Command line: compress images to GAN-reversal latent files (or, with a quality or size target,
layered files) and back.

    python -m ganlib compress IMAGE [IMAGE ...] | FOLDER -o OUT [--run DIR] [--init random|encoder] [--bits B] ...
    python -m ganlib compress ... [--target ssim=0.9 | --max-bytes N] [--report CSV]
    python -m ganlib decompress FILE [FILE ...] | FOLDER -o OUT [--run DIR]

``--target METRIC=VALUE`` (ssim, psnr, ms_ssim) writes, per image, the smallest file of the quality
ladder (:mod:`ganlib.pipeline.ladder`: the base layer at 3 to 8 bits, the run's learned residual
coders and WebP residuals on a 6-bit base, lossless PNG) whose decoded image meets it;
``--max-bytes N`` the best SSIM within N bytes. Both write layered files (``.grl``), which
``decompress`` reads beside latent files (``.gan``). Without a target, files that decode to SSIM
below 0.6 (an image unlike the training set) are named in a warning.

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

Exit status: 0 everything written (or skipped as existing); 1 a latent or layered file is
invalid (truncated, corrupted, foreign, or made with another generator or residual coder); 2 bad
arguments, an input that is not a regular file or cannot be read, an unreadable image, unusable
model files or an output path that cannot be written; 3 no file fits ``--max-bytes`` for an image;
130 interrupted (Ctrl-C). When several files fail for different reasons, the larger status. Every
failure is one line on stderr, ``error: <file>: <what is wrong>``, with
control characters and undecodable bytes of file names backslash-escaped.
"""
from __future__ import annotations

import argparse
import csv
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

from ganlib.codecs import residual
from ganlib.codecs.gan import GanCodec
from ganlib.core import distributed, files, params, paths, runtime
from ganlib.data import datasets
from ganlib.evaluation import metrics, targets
from ganlib.formats import latent_format, layered_format
from ganlib.inversion import modes
from ganlib.inversion.invert import OPTIMIZERS, InversionConfig
from ganlib.models import encoder as encoders
from ganlib.models import prior as priors
from ganlib.models.checkpoints import load_generator
from ganlib.models.losses import LOSSES
from ganlib.pipeline import ladder

EXIT_OK, EXIT_BAD_FILE, EXIT_USAGE, EXIT_TOO_BIG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
LATENT_SUFFIX, LAYERED_SUFFIX, IMAGE_SUFFIX = ".gan", layered_format.SUFFIX, ".png"
REPORT_COLUMNS = ["file", "output", "rung", "bytes", "bpp", "ssim", "psnr", "ms_ssim", "target_met"]
UNLIKE_SSIM = 0.6  # without a target, a decoded image below this SSIM gets a warning: likely unlike the training set


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


# ---------------------------------------------------------------- targets and the quality ladder
class TooBig(ValueError):
    """No file the model makes fits ``--max-bytes`` (exit status 3)."""


def compress_target(args) -> targets.Target | None:
    """``--target`` or ``--max-bytes`` (not both) as a :class:`ganlib.evaluation.targets.Target`; None without."""
    if args.target is not None and args.max_bytes is not None:
        raise UsageError("--target and --max-bytes are alternatives; give one")
    if args.target is not None:
        return targets.parse(args.target)
    return targets.size_bound(args.max_bytes) if args.max_bytes is not None else None


def load_coders(args, channels: int) -> tuple[list[residual.LearnedResidual], int]:
    """The residual coders of ``--run`` (:func:`ganlib.pipeline.ladder.load_coders`) and their base's bit depth."""
    run = Path(args.run) if args.run else default_run()
    try:
        coders, bits = ladder.load_coders(run, channels)
    except Exception as exc:  # noqa: BLE001 - JSON, safetensors or torch errors on files that are not ours
        raise UsageError(f"{paths.RunDir(run).residual_meta}: cannot load the residual coders "
                         f"({params.one_line(exc, 200)})") from None
    if not coders and distributed.is_main():
        say(f"warning: {run} has no residual coders ({paths.RESIDUAL_META}, written by make residual and shipped by "
            "make models): the ladder has base layers, WebP residuals and the lossless fallback only")
    return coders, bits


@dataclass(frozen=True)
class Outcome:
    """What ``compress`` made of one image: the file (None if nothing fits ``--max-bytes``, and ``why``),
    the score of the image decoded from it, and the rung of the ladder (``latent <b> bits`` without a target)."""

    blob: bytes | None
    score: dict
    rung: str
    met: bool | str = ""
    why: str = ""

    def row(self, job: Job) -> dict:
        """The ``--report`` row of this file (:data:`REPORT_COLUMNS`)."""
        return {"file": str(job.src), "output": str(job.dst), "rung": self.rung, "bytes": len(self.blob),
                "bpp": self.score["bpp"], "ssim": self.score["ssim"], "psnr": self.score["psnr"],
                "ms_ssim": self.score["ms_ssim"], "target_met": self.met}


class Encoding:
    """Images -> :class:`Outcome` per image: the latent file at ``--bits`` without a target, else the
    rung of the quality ladder the target picks (:mod:`ganlib.pipeline.ladder`)."""

    def __init__(self, gan: GanCodec, target: targets.Target | None, coders=(), residual_bits: int = 6):
        self.gan, self.target, self.coders, self.residual_bits = gan, target, list(coders), residual_bits

    def __call__(self, images: np.ndarray, seeds: list[int] | None) -> list[Outcome]:
        if self.target is None:
            blobs = self.gan.encode_batch(images, seeds)
            return [Outcome(b, metrics.score(x, y, len(b)), f"latent {self.gan.param} bits")
                    for b, x, y in zip(blobs, images, self.gan.decode_batch(blobs))]
        out = []
        for rungs in ladder.ladder(self.gan, self.coders, self.residual_bits, images, seeds):
            chosen = ladder.pick(rungs, self.target)
            if chosen is None:
                smallest = min(rungs, key=lambda r: len(r.blob))
                out.append(Outcome(None, {}, "", False, f"no file of at most {self.target.max_bytes} bytes; the "
                                   f"smallest this model makes is {len(smallest.blob)} bytes ({smallest.name})"))
                continue
            met = (chosen.score[self.target.metric] >= self.target.value if self.target.max_bytes is None
                   else len(chosen.blob) <= self.target.max_bytes)
            out.append(Outcome(chosen.blob, chosen.score, chosen.name, bool(met)))
        return out


def write_report(path: str | None, rows: list[dict]) -> None:
    """``--report``: one CSV row per file written (:data:`REPORT_COLUMNS`), atomically."""
    if path is None:
        return
    with files.atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        writer = csv.DictWriter(f, REPORT_COLUMNS)
        writer.writeheader()
        writer.writerows({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in r.items()} for r in rows)


def warn_unlike(rows: list[dict], target: targets.Target | None) -> None:
    """Without a target, one warning line naming the files (at most 10) whose decoded image has SSIM
    below :data:`UNLIKE_SSIM`: the generator returned something else, likely because the image is
    unlike its training set; ``--target`` repairs them."""
    poor = [r for r in rows if target is None and r["ssim"] < UNLIKE_SSIM]
    if poor:
        names = ", ".join(f"{Path(r['file']).name} ({r['ssim']:.2f})" for r in poor[:10])
        plural = len(poor) != 1
        say(f"warning: {len(poor)} file{'s' * plural} decode{'s' * (not plural)} to an image of SSIM below "
            f"{UNLIKE_SSIM} (the image is likely unlike the model's training images; the decoder returns a different "
            f"one): {names}{', ...' if len(poor) > 10 else ''}; compress them with --target ssim=0.9 to meet a quality")


def rungs_summary(rows: list[dict], target: targets.Target) -> str:
    """One line: how many files each kind of rung gave for ``target``, naming those that needed the
    lossless fallback (at most 10)."""
    kinds = {"base": 0, "learned": 0, "webp": 0, "lossless": 0}
    for r in rows:
        kinds[r["rung"].split()[0]] += 1
    fallback = [Path(r["file"]).name for r in rows if r["rung"] == "lossless"]
    named = f": {', '.join(fallback[:10])}{', ...' if len(fallback) > 10 else ''}" if fallback else ""
    return (f"{target}: {kinds['base']} base layer alone, {kinds['learned']} with a learned residual, "
            f"{kinds['webp']} with a WebP residual, {kinds['lossless']} lossless fallback{named}")


# ---------------------------------------------------------------- compress
def compress(args) -> int:
    """Compress one image, several or a folder. Under torchrun with several processes (a folder or
    several files), each process takes every n-th file of the sorted list (:func:`ganlib.core.distributed.shard`),
    skips those whose output exists, and rank 0 shows the progress and the summary for all."""
    params.int_range("--batch", args.batch, 1, 4096)
    params.int_range("--bits", args.bits, 1, 16)
    target = compress_target(args)
    suffix = LATENT_SUFFIX if target is None else LAYERED_SUFFIX
    jobs, batch = plan(args.inputs, args.output, datasets.IMAGE_SUFFIXES, suffix, "images")
    if args.report is not None:
        check_output(Path(args.report))
    if not batch and not distributed.is_main():
        return EXIT_OK  # one file: rank 0's
    G, E = load_model(args, args.init)
    prior = load_prior(args, G, warn=distributed.is_main())
    config = inversion_config(args, E, prior)
    cfg = G.config
    several = batch and distributed.init(timeout_s=7 * 24 * 3600)  # early ranks wait for the last at the end
    if several and args.report is not None:
        raise UsageError("--report is written by one process; run without torchrun (or without --report)")
    runtime.setup(args.seed, threads=max(1, 2 // distributed.local_world_size()) if several else 2)
    gan = GanCodec(G, args.bits, config, encoder=E, progress=not batch, prior=prior)
    coders = load_coders(args, cfg.channels) if target is not None else ([], ladder.RESIDUAL_BITS)
    def seeds(chunk: list[Job]) -> list[int] | None:  # random starts per file; the encoder needs none
        return [file_seed(args.seed, j.key) for j in chunk] if config.init == "random" else None
    encode = Encoding(gan, target, *coders)
    if not batch:
        job = jobs[0]
        image = read_image(job.src, cfg.image_size, cfg.channels, args.resize)
        done = encode(image[None], seeds(jobs))[0]
        if done.blob is None:
            raise TooBig(f"{job.src}: {done.why}")
        write_output(job.dst, done.blob)
        write_report(args.report, [done.row(job)])
        warn_unlike([done.row(job)], target)
        say(f"wrote {job.dst}: {len(done.blob)} bytes ({metrics.bpp(len(done.blob), image.shape):.3f} bpp), "
            f"SSIM {done.score['ssim']:.4f}, PSNR {done.score['psnr']:.2f} dB "
            f"({config.init} start{'s' if config.restarts > 1 else ''}, {config.steps} steps"
            + (f"; {done.rung} for {target}" if target is not None else "") + ")")
        return EXIT_OK
    try:
        status = _compress_batch(args, encode, jobs, several, seeds, config)
    except BaseException:
        distributed.destroy(wait=False)
        raise
    distributed.destroy()
    return status


def _compress_batch(args, encode: Encoding, jobs: list[Job], several: bool, seeds, config: InversionConfig) -> int:
    cfg = encode.gan.G.config
    mine = distributed.shard(jobs) if several else jobs
    todo, skipped = pending(mine, True, args.overwrite)
    own = set(mine)
    others = ([j for j in pending(jobs, True, args.overwrite)[0] if j not in own]
              if several and distributed.is_main() else [])  # rank 0 shows their progress too
    total = int(distributed.total(len(todo)))
    status, written, sizes, ssims, rows = EXIT_OK, 0, [], [], []
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
                for job, done in zip(ready, encode(np.stack(images), seeds(ready))):
                    if done.blob is None:
                        say(f"error: {job.src}: {done.why}")
                        status = max(status, EXIT_TOO_BIG)
                        continue
                    try:
                        write_output(job.dst, done.blob)
                    except OSError as exc:
                        say(f"error: {describe(exc)}")
                        status = max(status, EXIT_USAGE)
                        continue
                    written += 1
                    sizes.append(len(done.blob))
                    ssims.append(done.score["ssim"])
                    rows.append(done.row(job))
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
    write_report(args.report, rows)
    warn_unlike(rows, encode.target)
    mean = f" (mean {size_mean:.1f} bytes, SSIM {ssim_mean:.4f})" if written else ""
    procs = f" in {distributed.world_size()} processes" if several else ""
    if encode.target is not None and rows:
        say(rungs_summary(rows, encode.target))
    kind = "latent" if encode.target is None else "layered"
    say(f"wrote {written} {kind} file{'s' * (written != 1)} to {args.output}{mean}; "
        f"skipped {skipped} that exist{'ed' if skipped == 1 else ''}; {failed} failed "
        f"({config.init} start{'s' if config.restarts > 1 else ''}, {config.steps} steps; "
        f"{seconds:.1f} s, {written / seconds if seconds > 0 else 0:.2f} images/s{procs})")
    return status


# ---------------------------------------------------------------- decompress
def read_latent(path: Path) -> bytes:
    """A latent or layered file's bytes (:func:`ganlib.core.files.read_regular`): one longer than any
    valid file is refused unread (CodecError), a FIFO, device or directory too (OSError)."""
    try:
        blob = files.read_regular(path, layered_format.MAX_FILE_BYTES)
    except files.FileTooLong as exc:
        raise latent_format.CodecError(f"{path}: file of {exc.size:,} bytes is longer than any valid latent or "
                                       f"layered file (at most {layered_format.MAX_FILE_BYTES:,} bytes)") from None
    if not layered_format.is_layered(blob) and len(blob) > latent_format.MAX_FILE_BYTES:
        raise latent_format.CodecError(f"{path}: file of {len(blob):,} bytes is longer than any valid latent file "
                                       f"(at most {latent_format.MAX_FILE_BYTES:,} bytes)")
    return blob


def checked_latent(gan: GanCodec, path: Path) -> bytes:
    """Read a latent or layered file and check its headers (a layered file's checksum and its base
    layer's header) against the generator, before any payload is decoded."""
    blob = read_latent(path)
    try:
        if layered_format.is_layered(blob):
            base = layered_format.unpack(blob).base
            if base:
                gan.check(latent_format.read_header(base))
        else:
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
    jobs, batch = plan(args.inputs, args.output, (LATENT_SUFFIX, LAYERED_SUFFIX), IMAGE_SUFFIX,
                       "latent or layered files")
    if not args.overwrite_originals:
        check_originals(jobs if not batch or args.overwrite else [])
    if not distributed.is_main():
        return EXIT_OK
    G, _ = load_model(args, "random")
    prior = load_prior(args, G, warn=False)
    runtime.setup(0)
    gan = GanCodec(G, config=InversionConfig(**({"z_range": prior.z_range} if prior is not None else {})),
                   prior=prior)
    decoder = residual.Decoder(gan, load_coders(args, G.config.channels)[0] if needs_coders(jobs) else ())
    if not batch:
        job = jobs[0]
        blob = checked_latent(gan, job.src)
        try:
            image = decoder.decode(blob)
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
            decoded = _decode_chunk(decoder, ready, blobs)
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


def needs_coders(jobs: list[Job]) -> bool:
    """Whether any input is a layered file (by name), whose learned layer needs the run's residual coders."""
    return any(job.src.suffix == LAYERED_SUFFIX for job in jobs)


def _decode_chunk(decoder: residual.Decoder, jobs: list[Job], blobs: list[bytes]
                  ) -> list[tuple[Job, np.ndarray | None]]:
    """One generator pass for a chunk of latent files; layered files, or a chunk with an invalid file,
    file by file, so that only that one fails."""
    if not blobs:
        return []
    try:
        if any(layered_format.is_layered(b) for b in blobs):
            raise latent_format.CodecError("layered files are decoded one by one")
        return list(zip(jobs, decoder.base.decode_batch(blobs)))
    except latent_format.CodecError:
        out = []
        for job, blob in zip(jobs, blobs):
            try:
                out.append((job, decoder.decode(blob)))
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
    c = sub.add_parser("compress", help="images -> latent files (layered files with --target or --max-bytes)")
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
    c.add_argument("--target", default=None, metavar="METRIC=VALUE",
                   help="per image, the smallest file whose decoded image meets this quality, e.g. ssim=0.9, "
                        "psnr=30 or ms_ssim=0.95: picked from the quality ladder (base layer at 3 to 8 bits, "
                        "learned and WebP residual layers, lossless PNG), so it is always met; writes layered "
                        "files (.grl)")
    c.add_argument("--max-bytes", type=int, default=None, metavar="N",
                   help="per image, the best SSIM in a file of at most N bytes, from the same ladder; an image "
                        "with no file that small is reported and not written (exit status 3)")
    c.add_argument("--report", default=None, metavar="CSV",
                   help="write one row per file: input, output, rung, bytes, bpp, SSIM, PSNR, MS-SSIM, target met")
    c.add_argument("--resize", action="store_true", help="centre-crop and resize images of another size")
    c.add_argument("--batch", type=int, default=64, help="images searched at once (default: %(default)s)")
    c.add_argument("--overwrite", action="store_true", help="replace outputs that exist (default: skip them)")
    c.set_defaults(func=compress)
    d = sub.add_parser("decompress", help="latent or layered files -> PNG images")
    d.add_argument("inputs", nargs="+", metavar="FILE|FOLDER",
                   help="latent (.gan) or layered (.grl) files, or folders of them")
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
    except TooBig as exc:
        say(f"error: {exc}")
        return EXIT_TOO_BIG
    except OSError as exc:
        say(f"error: {describe(exc)}")
        return EXIT_USAGE
    except ValueError as exc:
        say(f"error: {params.one_line(exc)}")
        return EXIT_USAGE
