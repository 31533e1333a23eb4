"""Parameter checks used by the notebooks' first cells and the command line.

Each check raises ``ValueError`` naming the parameter and what is allowed; :func:`one_line` is
the one way an exception becomes a one-line message.
"""
from __future__ import annotations

import ast
import difflib
import math
import re
from collections.abc import Iterable, Sequence

import yaml


def one_line(exc: BaseException, limit: int | None = None) -> str:
    """An exception's message on one line (its whitespace runs, newlines included, become single
    spaces), or its type's name when it has none; cut to ``limit`` characters and `` ...`` if longer."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if limit is None or len(text) <= limit else text[:limit] + " ..."


def choice(name: str, value, allowed: Sequence) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; choose one of: {', '.join(map(str, allowed))}")


def slug(name: str, value) -> None:
    """A name that becomes part of file names: 1 to 40 lowercase letters, digits or underscores."""
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9_]{1,40}", value):
        raise ValueError(f"{name}={value!r} is not allowed; use 1 to 40 lowercase letters, digits or underscores")


def positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"{name}={value!r} is not allowed; it must be a positive finite number")


class _NoAliases(yaml.SafeLoader):
    """YAML without anchors' aliases (``*name``): a profile is a handful of values, and aliases are
    how a 1 KB file expands to gigabytes ("billion laughs")."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed",
                                              self.peek_event().start_mark)
        return super().compose_node(parent, index)


def read_yaml(path, max_bytes: int = 1 << 20):
    """The YAML document in ``path`` (at most ``max_bytes``, no aliases); ValueError naming the file."""
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{path}: longer than {max_bytes:,} bytes; a profile is a few hundred")
    try:
        return yaml.load(data.decode("utf-8"), Loader=_NoAliases)  # noqa: S506 - a SafeLoader
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid YAML ({one_line(exc)})") from None


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


def assigned_names(source: str) -> list[str]:
    """Names assigned at the top level of a cell's source (``x = 1`` and ``x: int = 1``), in order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = []
    for node in tree.body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) else [])
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def unknown_names(given: Iterable[str], allowed: Iterable[str], what: str) -> str | None:
    """A message naming every name of ``given`` not in ``allowed`` (with a close match, if any),
    and the allowed names; None when all are allowed."""
    allowed = list(allowed)
    unknown = [n for n in given if n not in allowed]
    if not unknown:
        return None
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, allowed, n=1)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return f"unknown parameter(s) {', '.join(parts)} {what}; allowed: {', '.join(allowed)}"


def reject_unknown(namespace: dict) -> None:
    """Refuse a parameter that papermill passed (``-p name value``, ``-f file.yaml``) but the
    notebook's parameters cell does not declare; papermill itself only warns. Call it in the first
    cell after the parameters cell: ``params.reject_unknown(globals())``.

    It reads the kernel's input history (``In``): papermill runs its injected cell, which starts
    with ``# Parameters``, right after the parameters cell. Raises ``ValueError`` naming the
    unknown names and the allowed ones; does nothing when no parameters were injected (a notebook
    run by hand)."""
    history = list(namespace.get("In") or namespace.get("_ih") or [])
    for i in range(len(history) - 1, 0, -1):
        if history[i].lstrip().startswith("# Parameters"):
            declared = assigned_names(history[i - 1]) + list(namespace.get("__annotations__", {}))
            injected = [n for n in assigned_names(history[i]) if not n.startswith("PAPERMILL_")]
            message = unknown_names(injected, dict.fromkeys(declared), "passed to this notebook (papermill -p or -f)")
            if message:
                raise ValueError(message)
            return
