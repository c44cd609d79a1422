"""The tree file read, checked and drawn, with the standard library only.

Both ways into ``ash tree`` and ``ash current`` use this module: :mod:`ashcore.store.tree` (the
:class:`~ashcore.store.tree.Tree` every command works on) and :mod:`ashcore.cli.fast`, which answers
the look-only commands before typer, attrs or any plugin is imported. What is here therefore imports
nothing but the standard library and :mod:`ashcore.console` (see docs/architecture.md, "Start-up").

A snapshot is handled here as its record in the file: a dict with the keys of :data:`FIELDS`, in
that order (the order ``--json`` prints them in).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..console import printable

FORMAT = "ash-tree"
VERSION = 1
#: The fields of a snapshot's record, in the file's (and ``--json``'s) order.
FIELDS = ("id", "parent", "description", "mutable", "created", "transid", "profiles")


class TreeFormatError(ValueError):
    pass


class NewerTreeFormat(TreeFormatError):
    """The tree file was written by a newer ash: never rebuild it, it is not damaged."""


def record(
    sid: int,
    parent: int | None,
    description: str,
    mutable: bool,
    created: str,
    transid: int | None,
    profiles: list[dict],
) -> dict:
    """A snapshot's record; ``profiles`` are the installed profiles (ash-profiles), each
    ``{"name", "packages", "services"}``."""
    return {
        "id": sid,
        "parent": parent,
        "description": description,
        "mutable": mutable,
        "created": created,
        "transid": transid,
        "profiles": profiles,
    }


def _number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9


class Contents:
    """A tree file's contents as :func:`salvage` keeps them: the records by number (in the file's
    order), and the tree's other fields."""

    def __init__(self) -> None:
        self.records: dict[int, dict] = {}
        self.distro: str | None = None
        self.next_id = 1
        self.deleting: list[int] = []


def salvage(data: object) -> tuple[Contents, list[str]]:
    """Read a tree file's contents field by field: every valid entry is kept, what is not is dropped
    or reset, and each such repair is named in the returned list (empty for a sound file). A parent
    loop is broken at its lowest snapshot; of two entries with one number the first is kept.

    Raises :class:`TreeFormatError` only when ``data`` is not an ash tree at all (nothing can be
    kept), and :class:`NewerTreeFormat` for a newer format, which is not damage.
    """
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TreeFormatError("not an ash tree file")
    version = data.get("version")
    if version != VERSION:
        if isinstance(version, int) and _number(version) and version > VERSION:
            raise NewerTreeFormat(f"tree format version {version} (this ash reads {VERSION})")
        raise TreeFormatError(f"tree format version {version!r} (this ash reads {VERSION})")
    problems: list[str] = []
    raw_snapshots = data.get("snapshots")
    if not isinstance(raw_snapshots, list):
        problems.append("the list of snapshots is missing; every snapshot is taken from the disk")
        raw_snapshots = []
    contents = Contents()
    records = contents.records
    for index, raw in enumerate(raw_snapshots):
        if not isinstance(raw, dict) or not _number(raw.get("id")):
            problems.append(f"entry {index} of the snapshot list has no valid snapshot number; dropped")
            continue
        snap = _record(raw, problems)
        if snap["id"] in records:
            problems.append(
                f"snapshot {snap['id']} is listed twice; the second entry ({snap['description']!r}) was dropped"
            )
            continue
        records[snap["id"]] = snap
    distro, next_id, deleting = data.get("distro"), data.get("next_id", 1), data.get("deleting", [])
    if distro is not None and not isinstance(distro, str):
        problems.append(f"the distribution {distro!r} is not a name; it is read again from snapshot 0")
        distro = None
    if not _number(next_id):
        problems.append(f"the next snapshot number {next_id!r} is not a number; it is worked out again")
        next_id = 1
    if not isinstance(deleting, list) or not all(_number(i) for i in deleting):
        problems.append(f"the list of snapshots being deleted {deleting!r} is damaged; no deletion is finished")
        deleting = []
    contents.distro, contents.next_id, contents.deleting = distro, max(int(next_id), 1), list(deleting)
    for loop in _parent_loops(records):
        lowest = min(loop)
        records[lowest]["parent"] = None
        problems.append(
            f"snapshots {', '.join(map(str, loop))} were each other's ancestors; {lowest} is now a tree of its own"
        )
    return contents, problems


def _record(raw: dict, problems: list[str]) -> dict:
    """One entry of the snapshot list; a field of the wrong type is reset and named in ``problems``."""
    sid = raw["id"]
    parent, description, created = raw.get("parent"), raw.get("description", ""), raw.get("created", "")
    mutable, transid, profiles = raw.get("mutable", False), raw.get("transid"), raw.get("profiles", [])
    if (  # the common case, a sound entry, at once (a file of 5,000 snapshots is read on every 'ash tree')
        (parent is None or (type(parent) is int and 0 <= parent < 10**9))
        and type(description) is str
        and type(mutable) is bool
        and type(created) is str
        and (transid is None or type(transid) is int)
        and profiles == []
    ):
        return record(sid, parent, description, mutable, created, transid, [])
    fields = {
        "parent": raw.get("parent"),
        "description": raw.get("description", ""),
        "mutable": raw.get("mutable", False),
        "created": raw.get("created", ""),
        "transid": raw.get("transid"),
    }
    if fields["transid"] is not None and not (
        isinstance(fields["transid"], int) and not isinstance(fields["transid"], bool)
    ):
        problems.append(f"snapshot {sid}: the transaction number {fields['transid']!r} is not a number; forgotten")
        fields["transid"] = None
    if fields["parent"] is not None and not _number(fields["parent"]):
        problems.append(
            f"snapshot {sid}: the parent {fields['parent']!r} is not a snapshot number; it is now a tree of its own"
        )
        fields["parent"] = None
    for name, kind, default in (("description", str, ""), ("mutable", bool, False), ("created", str, "")):
        if not isinstance(fields[name], kind):
            problems.append(
                f"snapshot {sid}: the {name} {fields[name]!r} is not {'text' if kind is str else 'true or false'};"
                f" reset to {default!r}"
            )
            fields[name] = default
    return record(sid, **fields, profiles=_profiles(sid, profiles, problems))


def _names(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def _profiles(sid: int, raw: object, problems: list[str]) -> list[dict]:
    """The installed profiles of one entry; a damaged record of them is forgotten and named."""
    if isinstance(raw, list) and all(
        isinstance(p, dict)
        and isinstance(p.get("name"), str)
        and p["name"]
        and _names(p.get("packages", []))
        and _names(p.get("services", []))
        for p in raw
    ):
        return [{"name": p["name"], "packages": p.get("packages", []), "services": p.get("services", [])} for p in raw]
    problems.append(f"snapshot {sid}: the record of its installed profiles {raw!r} is damaged; forgotten")
    return []


def _parent_loops(records: dict[int, dict]) -> list[list[int]]:
    """The loops in the chains of parents (a damaged tree file), each listed once in order."""
    state: dict[int, int] = {}  # 1: on the current path, 2: known to reach a root or a loop
    loops: list[list[int]] = []
    for start in sorted(records):
        path: list[int] = []
        node: int | None = start
        while node is not None and node in records and node not in state:
            state[node] = 1
            path.append(node)
            node = records[node]["parent"]
        if node is not None and state.get(node) == 1:
            loops.append(path[path.index(node) :])
        for n in path:
            state[n] = 2
    return loops


# -- drawing -------------------------------------------------------------------------------------
def by_parent(records: Iterable[dict]) -> dict[int | None, list[dict]]:
    """Children by parent, each list in the order of number; a snapshot whose parent is not in the
    tree is shown at the top."""
    ordered = sorted(records, key=lambda r: r["id"])
    present = {r["id"] for r in ordered}
    children: dict[int | None, list[dict]] = {}
    for r in ordered:
        children.setdefault(r["parent"] if r["parent"] in present else None, []).append(r)
    return children


def nested(records: Iterable[dict], current: int | None = None) -> list[dict]:
    """The tree as nested dicts, for ``--json``."""
    children = by_parent(records)

    def node(r: dict) -> dict:
        return {**r, "current": r["id"] == current, "children": []}

    tops = [node(r) for r in children.get(None, [])]
    todo = list(tops)  # a loop, not recursion: a chain may be thousands of snapshots deep
    while todo:
        parent = todo.pop()
        for r in children.get(parent["id"], []):
            parent["children"].append(child := node(r))
            todo.append(child)
    return tops


def render(records: Iterable[dict], current: int | None = None) -> str:
    """The seed's drawing: ``root - root`` then one line per snapshot, ``*`` after the current one."""
    children = by_parent(records)
    lines = ["root - root"]
    tops: Sequence[dict] = children.get(None, [])
    stack: list[tuple[dict, str, bool]] = [(r, "", i == len(tops) - 1) for i, r in enumerate(tops)][::-1]
    while stack:
        snap, prefix, last = stack.pop()
        mark = "*" if snap["id"] == current else " "
        desc = snap["description"]
        if desc:
            desc = desc.splitlines()[0]
            desc = desc if desc.isascii() and desc.isprintable() else printable(desc)
        lines.append(f"{prefix}{'└── ' if last else '├── '}{snap['id']}{mark}- {desc}".rstrip())
        kids = children.get(snap["id"], [])
        child_prefix = prefix + ("    " if last else "│   ")
        stack.extend((k, child_prefix, i == len(kids) - 1) for i, k in reversed(list(enumerate(kids))))
    return "\n".join(lines)
