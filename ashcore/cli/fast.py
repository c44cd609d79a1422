"""The fast path: ``ash tree`` and ``ash current`` answered before typer, attrs or a plugin is imported.

These are the commands a user types most, and they read two small files. :func:`answer` handles
exactly these command lines (``t`` and ``c`` are their aliases)::

    ash [--sysroot PATH | --sysroot=PATH] tree|t|current|c [--json]

when the store is in the plain state the full CLI prints no note, warning or error for: the tree
file is sound (:func:`ashcore.store.treefile.salvage` names no problem), ``deploy.json`` is missing
or of the shape ``ash deploy`` writes, the booted marker (``usr/lib/ash/snapshot``) is missing or a
plain number reached through no symbolic link, and (for ``current``) a current snapshot exists and
is in the tree. For every other command line, environment (``ASH_DEBUG``,
``ASH_NO_THIRD_PARTY_PLUGINS`` or an empty ``ASH_SYSROOT``) or state, errors included, it returns
None and :func:`ashcore.cli.main.main` runs the full CLI, which prints what it prints.

The tree is read and drawn by :mod:`ashcore.store.treefile`, the module the full CLI's
:class:`~ashcore.store.tree.Tree` uses, so the two print the same bytes; ``tests/test_fast_path.py``
runs both over the same stores and compares them. Nothing here changes anything: every command that
changes the store goes through the full CLI, its lock, its repairs and its tamper check.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence

from ..console import json_text
from ..store.treefile import Contents, render, salvage
from ..store.treefile import nested as nested_tree

COMMANDS = {"tree": "tree", "t": "tree", "current": "current", "c": "current"}
#: Variables the full CLI reads that would change what it does or prints: left to it.
_ENVIRONMENT = ("ASH_DEBUG", "ASH_NO_THIRD_PARTY_PLUGINS")
_NUMBER = re.compile(r"[0-9]{1,9}")


class _FallThrough(Exception):
    """Not a case of the fast path: the full CLI answers."""


def answer(argv: Sequence[str], environ: Mapping[str, str]) -> str | None:
    """What the full CLI would print on stdout for ``argv`` (without the last newline), if it is one
    of the cases above; else None."""
    try:
        sysroot, command, as_json = _parse(list(argv), environ)
        store = os.path.join(os.path.realpath(sysroot), ".snapshots")
        return _tree(store, sysroot, as_json) if command == "tree" else _current(store, sysroot, as_json)
    except (_FallThrough, OSError, ValueError, RecursionError):  # RecursionError: a tree too deep to nest
        return None


def _parse(argv: list[str], environ: Mapping[str, str]) -> tuple[str, str, bool]:
    if any(name in environ for name in _ENVIRONMENT):
        raise _FallThrough
    sysroot = environ.get("ASH_SYSROOT", "/")
    if argv[:1] == ["--sysroot"] and len(argv) > 1:
        sysroot, argv = argv[1], argv[2:]
    elif argv and argv[0].startswith("--sysroot="):
        sysroot, argv = argv[0].partition("=")[2], argv[1:]
    if not sysroot or sysroot.startswith("-") or not argv or argv[0] not in COMMANDS:
        raise _FallThrough
    if argv[1:] not in ([], ["--json"]):
        raise _FallThrough
    return sysroot, COMMANDS[argv[0]], argv[1:] == ["--json"]


def _contents(store: str) -> Contents:
    with open(os.path.join(store, "ash", "tree.json"), "rb") as f:
        contents, problems = salvage(json.loads(f.read()))
    if problems:  # the full CLI warns about each
        raise _FallThrough
    return contents


def _booted(sysroot: str) -> int | None:
    """The booted marker, when no symbolic link is on its way (else the full CLI follows it within
    the root, as :func:`ashcore.fs.files.in_root` does)."""
    path = os.path.realpath(sysroot)
    for part in ("usr", "lib", "ash", "snapshot"):
        path = os.path.join(path, part)
        try:
            if os.path.islink(path):
                raise _FallThrough
            if part != "snapshot" and not os.path.isdir(path):
                return None
        except OSError:
            return None
    try:
        with open(path, "rb") as f:
            text = f.read().decode("ascii").strip()
    except OSError:
        return None
    except ValueError:
        raise _FallThrough from None
    if not _NUMBER.fullmatch(text):
        raise _FallThrough
    return int(text)


def _deployment(value: object) -> bool:
    return value is None or (
        isinstance(value, dict)
        and isinstance(value.get("id"), str)
        and type(value.get("snapshot")) is int
        and value["snapshot"] >= 0
    )


def _deployed(store: str) -> int | None:
    """The default deployment's snapshot, from a ``deploy.json`` as ``ash deploy`` writes it."""
    try:
        with open(os.path.join(store, "ash", "deploy.json"), "rb") as f:
            data = json.loads(f.read())
    except FileNotFoundError:
        return None
    if not (
        isinstance(data, dict)
        and data.get("format") == "ash-deploy"
        and type(data.get("version")) is int
        and data["version"] == 1
        and {"default", "previous", "bootloader_pending"} <= data.keys()
        and _deployment(data["default"])
        and _deployment(data["previous"])
    ):
        raise _FallThrough
    return None if data["default"] is None else data["default"]["snapshot"]


def _tree(store: str, sysroot: str, as_json: bool) -> str:
    contents = _contents(store)
    booted, deployed = _booted(sysroot), _deployed(store)
    current = booted if booted is not None else deployed
    if not as_json:
        return render(contents.records.values(), current)
    tree = nested_tree(contents.records.values(), current)
    return json_text(
        {"current": current, "booted": booted, "deployed": deployed, "distro": contents.distro, "tree": tree}
    )


def _current(store: str, sysroot: str, as_json: bool) -> str:
    records = _contents(store).records
    booted, deployed = _booted(sysroot), _deployed(store)
    current = booted if booted is not None else deployed
    if as_json:
        return json.dumps({"current": current, "booted": booted, "deployed": deployed})
    if current is None or current not in records:  # the full CLI says why
        raise _FallThrough
    return str(current)
