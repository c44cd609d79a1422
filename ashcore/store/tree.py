"""The snapshot tree: which snapshot descends from which, as data, JSON and the seed's drawing.

Parent/child links are metadata only: every snapshot is an independent btrfs subvolume. The links
decide what tree-wide operations (sync, tree-upgrade, tree-run, del) visit.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import attrs

from ..console import printable

FORMAT = "ash-tree"
VERSION = 1
BASE = 0


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.frozen
class InstalledProfile:
    """A profile installed in a snapshot, as ash-profiles records it: its name, the packages its
    install added (not those the snapshot had before), and the services it enabled. A copy of the
    snapshot (``clone``, ``branch``) inherits the record with the files."""

    name: str
    packages: tuple[str, ...] = ()
    services: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"name": self.name, "packages": list(self.packages), "services": list(self.services)}


@attrs.define
class Snapshot:
    id: int
    parent: int | None
    description: str = ""
    mutable: bool = False
    created: str = attrs.field(factory=now)
    #: The btrfs transaction that last changed its files when ash made or committed it
    #: (:func:`~ashcore.fs.btrfs.content_transid`); ``ash check`` compares. None: not known.
    transid: int | None = None
    #: The profiles installed in it (see :class:`InstalledProfile`), in the order they were installed.
    profiles: list[InstalledProfile] = attrs.field(factory=list)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "parent": self.parent,
            "description": self.description,
            "mutable": self.mutable,
            "created": self.created,
            "transid": self.transid,
            "profiles": [p.to_json() for p in self.profiles],
        }


class TreeFormatError(ValueError):
    pass


class NewerTreeFormat(TreeFormatError):
    """The tree file was written by a newer ash: never rebuild it, it is not damaged."""


@attrs.define
class Tree:
    """All snapshots of a store, keyed by number."""

    snapshots: dict[int, Snapshot] = attrs.field(factory=dict)
    distro: str | None = None
    next_id: int = 1
    deleting: list[int] = attrs.field(factory=list)  # a del in progress: the next ash finishes it

    # -- queries ---------------------------------------------------------------------------------
    def __contains__(self, snapshot_id: int) -> bool:
        return snapshot_id in self.snapshots

    def __getitem__(self, snapshot_id: int) -> Snapshot:
        return self.snapshots[snapshot_id]

    def descendants(self, snapshot_id: int) -> list[int]:
        """Every descendant of ``snapshot_id``, each once, parents before children (pre-order)."""
        by_parent = self._by_parent()
        order: list[int] = []
        stack = [s.id for s in reversed(by_parent.get(snapshot_id, []))]
        while stack:
            sid = stack.pop()
            order.append(sid)
            stack.extend(s.id for s in reversed(by_parent.get(sid, [])))
        return order

    def subtree(self, snapshot_id: int) -> list[int]:
        return [snapshot_id, *self.descendants(snapshot_id)]

    def edges(self, snapshot_id: int) -> Iterator[tuple[int, int]]:
        """(parent, child) pairs below ``snapshot_id``, parents before children."""
        for child in self.descendants(snapshot_id):
            parent = self.snapshots[child].parent
            assert parent is not None
            yield parent, child

    # -- changes ---------------------------------------------------------------------------------
    def allocate(self, *taken: int) -> int:
        """A fresh snapshot number: never one in use, on disk or deleted earlier in this store."""
        new = max([self.next_id, *(s + 1 for s in self.snapshots), *(t + 1 for t in taken)])
        self.next_id = new + 1
        return new

    def add(self, snapshot: Snapshot) -> Snapshot:
        self.snapshots[snapshot.id] = snapshot
        return snapshot

    def remove(self, snapshot_id: int) -> None:
        """Drop one snapshot (its number is never handed out again); its children move up to its parent."""
        gone = self.snapshots.pop(snapshot_id)
        self.next_id = max(self.next_id, snapshot_id + 1)
        for s in self.snapshots.values():
            if s.parent == snapshot_id:
                s.parent = gone.parent

    # -- formats ---------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "distro": self.distro,
            "next_id": self.next_id,
            "snapshots": [self.snapshots[i].to_json() for i in sorted(self.snapshots)],
            "deleting": self.deleting,
        }

    @classmethod
    def from_json(cls, data: object) -> Tree:
        """The tree ``data`` describes, or :class:`TreeFormatError` naming the first thing wrong."""
        tree, problems = salvage(data)
        if problems:
            raise TreeFormatError(problems[0])
        return tree

    def _by_parent(self) -> dict[int | None, list[Snapshot]]:
        """Children by parent; a snapshot whose parent is not in the tree is shown at the top."""
        by_parent: dict[int | None, list[Snapshot]] = {}
        for s in sorted(self.snapshots.values(), key=lambda s: s.id):
            by_parent.setdefault(s.parent if s.parent in self.snapshots else None, []).append(s)
        return by_parent

    def nested(self, current: int | None = None) -> list[dict]:
        """The tree as nested dicts, for ``--json``."""
        by_parent = self._by_parent()

        def node(s: Snapshot) -> dict:
            return {**s.to_json(), "current": s.id == current, "children": [node(c) for c in by_parent.get(s.id, [])]}

        return [node(s) for s in by_parent.get(None, [])]

    def render(self, current: int | None = None) -> str:
        """The seed's drawing: ``root - root`` then one line per snapshot, ``*`` after the current one."""
        by_parent = self._by_parent()
        lines = ["root - root"]
        stack: list[tuple[Snapshot, str, bool]] = [
            (s, "", i == len(by_parent.get(None, [])) - 1) for i, s in enumerate(by_parent.get(None, []))
        ][::-1]
        while stack:
            snap, prefix, last = stack.pop()
            mark = "*" if snap.id == current else " "
            desc = printable(snap.description.splitlines()[0]) if snap.description else ""
            lines.append(f"{prefix}{'└── ' if last else '├── '}{snap.id}{mark}- {desc}".rstrip())
            kids = by_parent.get(snap.id, [])
            child_prefix = prefix + ("    " if last else "│   ")
            stack.extend((k, child_prefix, i == len(kids) - 1) for i, k in reversed(list(enumerate(kids))))
        return "\n".join(lines)


def _number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9


def salvage(data: object) -> tuple[Tree, list[str]]:
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
    tree = Tree()
    for index, raw in enumerate(raw_snapshots):
        if not isinstance(raw, dict) or not _number(raw.get("id")):
            problems.append(f"entry {index} of the snapshot list has no valid snapshot number; dropped")
            continue
        snap = _snapshot(raw, problems)
        if snap.id in tree:
            problems.append(f"snapshot {snap.id} is listed twice; the second entry ({snap.description!r}) was dropped")
            continue
        tree.add(snap)
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
    tree.distro, tree.next_id, tree.deleting = distro, max(int(next_id), 1), list(deleting)
    for loop in _parent_loops(tree):
        lowest = min(loop)
        tree[lowest].parent = None
        problems.append(
            f"snapshots {', '.join(map(str, loop))} were each other's ancestors; {lowest} is now a tree of its own"
        )
    return tree, problems


def _snapshot(raw: dict, problems: list[str]) -> Snapshot:
    """One entry of the snapshot list; a field of the wrong type is reset and named in ``problems``."""
    sid = raw["id"]
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
    return Snapshot(id=sid, **fields, profiles=_profiles(sid, raw.get("profiles", []), problems))


def _names(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def _profiles(sid: int, raw: object, problems: list[str]) -> list[InstalledProfile]:
    """The installed profiles of one entry; a damaged record of them is forgotten and named."""
    if isinstance(raw, list) and all(
        isinstance(p, dict)
        and isinstance(p.get("name"), str)
        and p["name"]
        and _names(p.get("packages", []))
        and _names(p.get("services", []))
        for p in raw
    ):
        return [InstalledProfile(p["name"], tuple(p.get("packages", [])), tuple(p.get("services", []))) for p in raw]
    problems.append(f"snapshot {sid}: the record of its installed profiles {raw!r} is damaged; forgotten")
    return []


def _parent_loops(tree: Tree) -> list[list[int]]:
    """The loops in the chains of parents (a damaged tree file), each listed once in order."""
    state: dict[int, int] = {}  # 1: on the current path, 2: known to reach a root or a loop
    loops: list[list[int]] = []
    for start in sorted(tree.snapshots):
        path: list[int] = []
        node: int | None = start
        while node is not None and node in tree and node not in state:
            state[node] = 1
            path.append(node)
            node = tree[node].parent
        if node is not None and state.get(node) == 1:
            loops.append(path[path.index(node) :])
        for n in path:
            state[n] = 2
    return loops
