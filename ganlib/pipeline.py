"""Profiles: ``params/<profile>.yaml`` holds one section of papermill parameters per stage.

``python -m ganlib.pipeline PROFILE STAGE -o FILE`` writes the YAML that the Makefile hands
to papermill (``-f``) for that stage: the section, plus ``profile``. FILE is rewritten only
when its content changes, so editing one section of a profile re-runs only that stage and
the stages after it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from . import files, paths

INVERSIONS = ("seen", "unseen", "seen_ssim", "unseen_mse")  # 03 runs: invert_<name>.csv
STAGES = ("data", "train", "encoder", *(f"invert_{n}" for n in INVERSIONS), "baselines", "results")


def load_profile(profile: str) -> dict:
    path = paths.profile_path(profile)
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ValueError(f"profile={profile!r} is not allowed; choose one of: {', '.join(known)}")
    sections = yaml.safe_load(path.read_text()) or {}
    unknown = set(sections) - set(STAGES)
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {sorted(unknown)}; allowed: {', '.join(STAGES)}")
    return sections


def stage_params(profile: str, stage: str) -> dict:
    """Papermill parameters of one stage of a profile."""
    if stage not in STAGES:
        raise ValueError(f"stage={stage!r} is not allowed; choose one of: {', '.join(STAGES)}")
    return {"profile": profile, **(load_profile(profile).get(stage) or {})}


def write_if_changed(path, text: str) -> bool:
    """Write ``text`` to ``path`` atomically unless it already holds exactly that; True if written."""
    path = Path(path)
    if path.is_file() and path.read_text() == text:
        return False
    files.write_text(path, text)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganlib.pipeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", help="profile name: params/<profile>.yaml")
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("-o", "--output", help="write the YAML here (only if it changed) instead of printing it")
    args = parser.parse_args(argv)
    try:
        text = yaml.safe_dump(stage_params(args.profile, args.stage), sort_keys=False)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.output:
        write_if_changed(args.output, text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
