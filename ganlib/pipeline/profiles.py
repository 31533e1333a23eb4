"""Profiles: ``params/<profile>.yaml`` holds one section of papermill parameters per stage.

``python -m ganlib.pipeline PROFILE STAGE -o FILE`` writes the YAML that the Makefile hands
to papermill (``-f``) for that stage: the section, plus ``profile``. FILE is rewritten only
when its content changes, so editing one section of a profile re-runs only that stage and
the stages after it.

Every section of the profile is checked against its notebook's parameters cell whenever any
stage's YAML is written: a key that no parameter has (a misspelling) fails, naming the key,
its section and the allowed names, before any stage runs.
"""
from __future__ import annotations

import argparse
import json
import sys
from functools import cache
from pathlib import Path

import yaml

from ganlib.core import files, params, paths

# The one map from stages to notebooks, in pipeline order; "invert" stands for one stage per inversion.
NOTEBOOKS = {
    "data": "01_data",
    "train": "02_train_gan",
    "encoder": "02b_train_encoder",
    "classifier": "02c_train_classifier",
    "invert": "03_invert",
    "tradeoff": "03b_tradeoff",
    "baselines": "04_baselines",
    "residual": "04b_residual",
    "realism": "04c_realism",
    "results": "05_results",
}
STAGES = tuple(s for key in NOTEBOOKS
               for s in ([f"invert_{n}" for n in paths.INVERSIONS] if key == "invert" else [key]))
SET_BY_PIPELINE = ("profile",)  # parameters the pipeline sets itself (stage_params), not the profile's sections
STUDY_SECTION = "models"  # a params/*.yaml with this section holds ganlib.pipeline.study's settings, not a profile
LEARNED_STUDY_SECTION = "series"  # and with this one, ganlib.pipeline.learned_study's


def notebook(stage: str) -> Path:
    """The notebook that runs ``stage``: ``notebooks/<name>.ipynb``."""
    if stage not in STAGES:
        raise ValueError(f"stage={stage!r} is not allowed; choose one of: {', '.join(STAGES)}")
    return paths.project_root() / "notebooks" / f"{NOTEBOOKS['invert' if stage.startswith('invert_') else stage]}.ipynb"


@cache
def _parameters(path: Path, mtime: float) -> tuple[str, ...]:
    nb = json.loads(path.read_text())
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            return tuple(params.assigned_names(source))
    return ()


def notebook_parameters(stage: str) -> tuple[str, ...]:
    """The parameters of ``stage``'s notebook: the names its cell tagged ``parameters`` assigns
    (what ``papermill --help-notebook`` lists). FileNotFoundError if the notebook is missing."""
    path = notebook(stage)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: stage {stage!r} has no notebook")
    return _parameters(path, path.stat().st_mtime)


def check_sections(sections: dict, where: str = "profile") -> None:
    """Every key of every section must be a parameter of that stage's notebook: ValueError naming
    the key, its section and the allowed names otherwise."""
    for stage, section in sections.items():
        if section is None:
            continue
        if not isinstance(section, dict):
            raise ValueError(f"{where}: section {stage!r} must be a mapping of parameter names to values; "
                             f"got {type(section).__name__}")
        allowed = [n for n in notebook_parameters(stage) if n not in SET_BY_PIPELINE]
        message = params.unknown_names(list(section), allowed, f"in section {stage!r} ({notebook(stage).name})")
        if message:
            raise ValueError(f"{where}: {message}")


EXTENDS = "extends"  # a profile's key naming the profile it starts from: its sections' keys override that one's


def load_profile(profile: str, _children: tuple[str, ...] = ()) -> dict:
    """The sections of ``params/<profile>.yaml``, checked (:func:`check_sections`). A profile with
    ``extends: <other>`` starts from the other's sections, each key of its own sections replacing
    the other's."""
    if profile in _children:
        raise ValueError(f"profile={profile!r}: extends itself ({' -> '.join([*_children, profile])})")
    path = paths.profile_path(profile)
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ValueError(f"profile={profile!r} is not allowed; choose one of: {', '.join(known)}")
    sections = params.read_yaml(path) or {}
    if not isinstance(sections, dict):
        raise ValueError(f"{path}: must be a mapping of stage names to sections; got {type(sections).__name__}")
    if STUDY_SECTION in sections:
        raise ValueError(f"profile={profile!r} is not allowed; {path.name} holds the settings of the capacity study "
                         f"(make study, or python -m ganlib.pipeline.study --profile {profile}), "
                         "not a profile of the chain")
    if LEARNED_STUDY_SECTION in sections:
        raise ValueError(f"profile={profile!r} is not allowed; {path.name} holds the settings of the learned codecs' "
                         "convergence study (make learned), not a profile of the chain")
    parent = sections.pop(EXTENDS, None)
    if parent is not None:
        if not isinstance(parent, str):
            raise ValueError(f"{path}: {EXTENDS} must name a profile; got {parent!r}")
        base = load_profile(parent, (*_children, profile))
        sections = {s: {**(base.get(s) or {}), **(sections.get(s) or {})} for s in dict.fromkeys([*base, *sections])}
    unknown = [s for s in sections if s not in STAGES]
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(STAGES)}")
    check_sections(sections, str(path))
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
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.output:
        write_if_changed(args.output, text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
