"""Parameter checks used by the notebooks' first cells and the command line.

Each check raises ``ValueError`` naming the parameter and what is allowed.
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence


def choice(name: str, value, allowed: Sequence) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; choose one of: {', '.join(map(str, allowed))}")


def slug(name: str, value) -> None:
    """A name that becomes part of file names: 1 to 40 lowercase letters, digits or underscores."""
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9_]{1,40}", value):
        raise ValueError(f"{name}={value!r} is not allowed; use 1 to 40 lowercase letters, digits or underscores")


def positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name}={value!r} is not allowed; it must be a positive number")


def int_range(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}={value!r} is not allowed; it must be an integer from {low} to {high}")


def fraction(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"{name}={value!r} is not allowed; it must be a number strictly between 0 and 1")


def int_list(name: str, value, low: int, high: int) -> list[int]:
    """Accept an int or a non-empty list of ints within [low, high]; return a sorted list."""
    values: Iterable = value if isinstance(value, (list, tuple)) else [value]
    values = list(values)
    if not values:
        raise ValueError(f"{name}=[] is not allowed; give at least one integer from {low} to {high}")
    for v in values:
        int_range(name, v, low, high)
    return sorted(set(values))
