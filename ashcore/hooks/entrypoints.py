"""The entry points of one group, read from the installed distributions' metadata directories.

What :func:`importlib.metadata.entry_points` finds for a group, found as it finds it, without its
cost: importing :mod:`importlib.metadata` (and through it :mod:`email`, :mod:`zipfile`, :mod:`csv`)
takes about 30 ms, a third of an ``ash`` start that needs plugins. The rules kept: every directory
of :data:`sys.path` in order, its ``*.dist-info`` and ``*.egg-info`` directories, one distribution
per normalized name (the first found wins, as a later copy of a package is shadowed), ``entry_points.txt``
read as an INI file, the distribution's name and version from the headers of its ``METADATA`` (or
``PKG-INFO``), and an entry point loaded as ``module:attribute.path``. Distributions inside zip
files are not looked at (ash's plugins are never installed so).
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterable

_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")
_SUFFIXES = (".dist-info", ".egg-info")


class EntryPoint:
    """One entry point: ``name = value`` in a group, and the distribution that declares it."""

    def __init__(self, name: str, value: str, dist: str, version: str) -> None:
        self.name, self.value, self.dist, self.version = name, value, dist, version

    def load(self) -> object:
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"{self.value!r} is not an entry point (module:attribute)")
        target: object = importlib.import_module(match.group("module"))
        for attr in filter(None, (match.group("attr") or "").split(".")):
            target = getattr(target, attr)
        return target

    def __repr__(self) -> str:
        return f"EntryPoint({self.name!r}, {self.value!r}, {self.dist!r} {self.version!r})"


def normalize(name: str) -> str:
    """PEP 503's normal form, as importlib.metadata compares distributions."""
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def entry_points(group: str, path: Iterable[str] | None = None) -> list[EntryPoint]:
    """Every entry point of ``group`` in the distributions on ``path`` (default :data:`sys.path`)."""
    found: list[EntryPoint] = []
    seen: set[str] = set()
    for entry in sys.path if path is None else path:
        directory = entry or "."
        try:
            names = os.listdir(directory)
        except OSError:  # not a directory (a zip file), or gone
            continue
        for suffix in _SUFFIXES:  # in a directory, a dist-info before an egg-info of one name
            for name in names:
                if not name.lower().endswith(suffix):
                    continue
                key = normalize(name[: -len(suffix)].partition("-")[0])
                if key not in seen:
                    seen.add(key)
                    found += _read(os.path.join(directory, name), group)
    return found


def _read(meta: str, group: str) -> list[EntryPoint]:
    try:
        with open(os.path.join(meta, "entry_points.txt"), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return []
    points = _section(text, group)
    if not points:
        return []
    dist, version = _headers(meta)
    return [EntryPoint(name, value, dist, version) for name, value in points]


def _section(text: str, group: str) -> list[tuple[str, str]]:
    """The ``name = value`` lines of the ``[group]`` section (comments and blank lines skipped)."""
    points: list[tuple[str, str]] = []
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            continue
        if current == group:
            name, _, value = line.partition("=")
            points.append((name.strip(), value.strip()))
    return points


def _headers(meta: str) -> tuple[str, str]:
    """The distribution's name and version from its metadata file's headers."""
    name = version = None
    for file in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(meta, file), encoding="utf-8") as f:
                for line in f:
                    if not line.strip():
                        break
                    key, _, value = line.partition(":")
                    if key == "Name" and name is None:
                        name = value.strip()
                    elif key == "Version" and version is None:
                        version = value.strip()
            break
        except OSError:
            continue
    stem = os.path.basename(meta).rpartition(".")[0]
    return name or stem.partition("-")[0], version or (stem.partition("-")[2] or "?")
