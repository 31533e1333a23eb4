"""How training and encoding cost grows with image size and batch, on this machine (issue 10).

    .venv/bin/python benchmarks/scaling.py -o benchmarks/scaling.csv

For each image size (28 px grayscale with the default profile's model; 64 and 128 px colour with
params/gpu.yaml's width and latent size) and batch, in a fresh process each (so peak memory is
that configuration's): milliseconds per GAN training step, per Adam step of the latent search
(one generator forward and backward for the batch), per hybrid encode (the encoder's guess, then
40 L-BFGS steps, i.e. ganlib.inversion.modes.hybrid_config) per image, per decode
(one generator pass, on the CPU) per image, and the process's peak resident memory (training
at that batch dominates it). The hybrid encode is timed once, at the smallest batch only. Models are
freshly initialised: speed and memory do not depend on what the weights are. 2 torch threads,
as every stage. Times are the median over a few repeats after one warm-up.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from ganlib.inversion import modes

CONFIGS = [  # (image_size, channels, latent_dim, width)
    (28, 1, 64, 64),
    (64, 3, 128, 64),
    (128, 3, 128, 64),
]
BATCHES = (16, 64)


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)[len(times) // 2]


def measure(size: int, channels: int, latent: int, width: int, batch: int, repeats: int) -> dict:
    import torch

    from ganlib.codecs.gan import GanCodec
    from ganlib.core import runtime
    from ganlib.data import datasets
    from ganlib.models import gan_training
    from ganlib.models.losses import image_loss
    from ganlib.models.nets import Encoder, GanConfig, Generator, init_weights

    runtime.setup(0)
    cfg = GanConfig(latent_dim=latent, width=width, image_size=size, channels=channels)
    images = datasets.shapes(max(batch, 8), size, channels, seed=0)
    row = {"image_size": size, "channels": channels, "latent_dim": latent, "width": width, "batch": batch}
    G = Generator(cfg)
    G.apply(init_weights)
    row["generator_parameters"] = sum(p.numel() for p in G.parameters())
    # one training step: train_gan's loop time (setup excluded) over 1 + repeats steps
    _, hist = gan_training.train_gan(images, cfg, 1 + repeats, batch, 2e-4, 0, n_snapshots=0, progress=False)
    row["train_step_ms"] = hist["seconds"] / (1 + repeats) * 1000
    # one search step for the batch: forward, loss, backward to z
    Gf = G.eval().requires_grad_(False).to(memory_format=torch.channels_last)
    target = runtime.to_tensor(images[:batch])
    z = torch.randn(batch, latent, requires_grad=True)

    def search_step():
        loss = image_loss("ssim", Gf(z), target).sum()
        loss.backward()

    row["search_step_ms"] = median_ms(search_step, repeats)
    E = Encoder(cfg)
    E.apply(init_weights)
    gan = GanCodec(G, 8, modes.hybrid_config(), encoder=E.eval())
    if batch == min(BATCHES):  # one timed encode (the search step above warmed the kernels); too slow to repeat
        start = time.perf_counter()
        gan.encode_batch(images[:batch])
        row["hybrid_encode_ms_per_image"] = (time.perf_counter() - start) * 1000 / batch
    with torch.no_grad():
        zz = torch.randn(batch, latent)
        row["decode_ms_per_image"] = median_ms(lambda: gan.G(zz), repeats) / batch
    row["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--output", default=None, help="CSV to write (default: print)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: one configuration, JSON
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(measure(*json.loads(args.one), repeats=args.repeats)))
        return 0
    import pandas as pd

    rows = []
    for size, channels, latent, width in CONFIGS:
        for batch in BATCHES:
            one = json.dumps([size, channels, latent, width, batch])
            out = subprocess.run([sys.executable, __file__, "--one", one, "--repeats", str(args.repeats)],
                                 capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1], file=sys.stderr, flush=True)
    frame = pd.DataFrame(rows).round(2)
    if args.output:
        frame.to_csv(args.output, index=False)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(frame.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(main())
