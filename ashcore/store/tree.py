"""The snapshot tree: which snapshot descends from which, as data, JSON and the seed's drawing.

Parent/child links are metadata only: every snapshot is an independent btrfs subvolume. The links
decide what tree-wide operations (sync, tree-upgrade, tree-run, del) visit.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import attrs

from . import treefile
from .treefile import FORMAT, VERSION, NewerTreeFormat, TreeFormatError

__all__ = ["BASE", "FORMAT", "VERSION", "NewerTreeFormat", "Snapshot", "Tree", "TreeFormatError", "now", "salvage"]
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
        profiles = [p.to_json() for p in self.profiles]
        return treefile.record(
            self.id, self.parent, self.description, self.mutable, self.created, self.transid, profiles
        )


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
        """The tree as nested dicts, for ``--json`` (drawn by :mod:`ashcore.store.treefile`)."""
        return treefile.nested(self._records(), current)

    def render(self, current: int | None = None) -> str:
        """The seed's drawing (:func:`ashcore.store.treefile.render`)."""
        return treefile.render(self._records(), current)

    def _records(self) -> list[dict]:
        return [s.to_json() for s in self.snapshots.values()]


def salvage(data: object) -> tuple[Tree, list[str]]:
    """Read a tree file's contents field by field (:func:`ashcore.store.treefile.salvage`, which
    names every repair in the returned list) into a :class:`Tree`."""
    contents, problems = treefile.salvage(data)
    tree = Tree(distro=contents.distro, next_id=contents.next_id, deleting=contents.deleting)
    for r in contents.records.values():
        profiles = [InstalledProfile(p["name"], tuple(p["packages"]), tuple(p["services"])) for p in r["profiles"]]
        tree.add(Snapshot(**{**r, "profiles": profiles}))
    return tree, problems
