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

from ganlib.core import files

# The most steps a step-count parameter may ask for: the default profile's GAN trains 3,000 steps in
# about 2.5 minutes on 2 cores, so 10**6 steps are about 14 hours of it; a typo's 10**7 would take days.
MAX_STEPS = 10**6


def one_line(exc: BaseException, limit: int | None = None) -> str:
    """An exception's message on one line (its whitespace runs, newlines included, become single
    spaces), or its type's name when it has none; cut to ``limit`` characters and `` ...`` if longer.
    An ``OSError``'s message is its reason alone (``strerror``): the caller names the file."""
    message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    text = " ".join(message.split()) or type(exc).__name__
    return text if limit is None or len(text) <= limit else text[:limit] + " ..."


def _escaped(char: str) -> str:
    if "\udc80" <= char <= "\udcff":  # an undecodable byte of a file name (surrogateescape)
        return f"\\x{ord(char) - 0xDC00:02x}"
    return char.encode("unicode_escape").decode("ascii")


def printable(text: str) -> str:
    """``text`` with control characters (newlines, escapes), other unprintable characters and the
    undecodable bytes of file names backslash-escaped (``\\n``, ``\\x1b``, ``\\xff``): one line that
    a crafted file name can neither break nor forge."""
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


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
    """The YAML document in regular file ``path`` (at most ``max_bytes``, no aliases); ValueError naming
    the file (FileNotFoundError if there is none)."""
    try:
        data = files.read_regular(path, max_bytes)
    except files.FileTooLong:
        raise ValueError(f"{path}: longer than {max_bytes:,} bytes; a profile is a few hundred") from None
    except FileNotFoundError:
        raise
    except OSError as exc:  # a FIFO, a device, a directory, no permission
        raise ValueError(f"{path}: cannot read it ({one_line(exc)})") from None
    try:
        return yaml.load(data.decode("utf-8"), Loader=_NoAliases)  # noqa: S506 - a SafeLoader
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid YAML ({one_line(exc)})") from None


def int_range(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}={value!r} is not allowed; it must be an integer from {low} to {high}")


def steps(name: str, value, low: int = 1) -> None:
    """A step count from ``low`` to :data:`MAX_STEPS`."""
    int_range(name, value, low, MAX_STEPS)


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
