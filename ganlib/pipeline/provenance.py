"""What a run ran on, for the report: library versions, the coding libraries, the machine, the
generator and the learned codecs' training budget."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np
import pandas as pd
import PIL
import scipy
import seaborn
import skimage
import torch

from ganlib.codecs import classical, families
from ganlib.core import paths, runtime


def environment(run: str | Path) -> pd.DataFrame:
    """What the run ran on, as rows of ``key`` and ``value``: library versions, the codecs' coding
    libraries, the machine, the generator and the learned codecs' training budget (from
    ``run``'s files)."""


    run = paths.RunDir(run)
    out = {
        "Libraries": f"Python {platform.python_version()}, torch {torch.__version__}, NumPy {np.__version__}, "
                     f"pandas {pd.__version__}, scikit-image {skimage.__version__}, SciPy {scipy.__version__}, "
                     f"Pillow {PIL.__version__}, seaborn {seaborn.__version__}",
        "Codecs": "; ".join(f"{families.label(name)}: {cls(cls.knob[1] if cls.knob else None).version}"
                            for name, cls in classical.CODECS.items() if name != "kmeans"),
        "Machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, device {runtime.device()}, "
                   f"torch threads {torch.get_num_threads()}",
    }
    if run.generator_config.is_file():
        g = json.loads(run.generator_config.read_text())
        config = ", ".join(f"{k} {v}" for k, v in g["config"].items())
        trained = f", trained {g['steps']} steps in {g['seconds']:.1f} s" if g.get("steps") and g.get("seconds") else ""
        out["Generator"] = (f"{config}; {g.get('generator_parameters', 0):,} parameters{trained}; "
                            f"fingerprint {g['fingerprint']}")
    if run.learned_meta.is_file():
        budget = json.loads(run.learned_meta.read_text())
        runs = budget.get("runs", [])
        out["Learned codecs"] = (f"N={budget.get('n')}, M={budget.get('m')}: " + "; ".join(
            f"{r['model']} λ={r['lambda']}: {r['steps']} steps in {r['seconds']:.1f} s" for r in runs)
            + f" (total {sum(r['seconds'] for r in runs):.0f} s)") if runs else "not trained"
    return pd.DataFrame(list(out.items()), columns=["key", "value"])
