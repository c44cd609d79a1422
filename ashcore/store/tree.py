"""The snapshot tree: which snapshot descends from which, as data, JSON and the seed's drawing.

Parent/child links are metadata only: every snapshot is an independent btrfs subvolume. The links
decide what tree-wide operations (sync, tree-upgrade, tree-run, del) visit.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import attrs

FORMAT = "ash-tree"
VERSION = 1
BASE = 0


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.define
class Snapshot:
    id: int
    parent: int | None
    description: str = ""
    mutable: bool = False
    created: str = attrs.field(factory=now)

    def to_json(self) -> dict:
        return {"id": self.id, "parent": self.parent, "description": self.description, "mutable": self.mutable,
                "created": self.created}  # fmt: skip


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
    def from_json(cls, data: dict) -> Tree:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise TreeFormatError("not an ash tree file")
        if data.get("version") != VERSION:
            version = data.get("version")
            if isinstance(version, int) and version > VERSION:
                raise NewerTreeFormat(f"tree format version {version} (this ash reads {VERSION})")
            raise TreeFormatError(f"tree format version {version!r} (this ash reads {VERSION})")
        snapshots = {}
        for raw in data["snapshots"]:
            snap = Snapshot(
                id=int(raw["id"]),
                parent=None if raw["parent"] is None else int(raw["parent"]),
                description=str(raw.get("description", "")),
                mutable=bool(raw.get("mutable", False)),
                created=str(raw.get("created", "")),
            )
            snapshots[snap.id] = snap
        return cls(
            snapshots=snapshots,
            distro=data.get("distro"),
            next_id=int(data.get("next_id", 1)),
            deleting=[int(i) for i in data.get("deleting", [])],
        )

    def _by_parent(self) -> dict[int | None, list[Snapshot]]:
        by_parent: dict[int | None, list[Snapshot]] = {}
        for s in sorted(self.snapshots.values(), key=lambda s: s.id):
            by_parent.setdefault(s.parent, []).append(s)
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
            desc = snap.description.splitlines()[0] if snap.description else ""
            lines.append(f"{prefix}{'└── ' if last else '├── '}{snap.id}{mark}- {desc}".rstrip())
            kids = by_parent.get(snap.id, [])
            child_prefix = prefix + ("    " if last else "│   ")
            stack.extend((k, child_prefix, i == len(kids) - 1) for i, k in reversed(list(enumerate(kids))))
        return "\n".join(lines)
