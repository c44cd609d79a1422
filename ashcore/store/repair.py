"""Repairs: what every changing command does first, so that whatever a crash interrupted is
finished or undone (see the ordering rules in :mod:`ashcore.ops.snapshots` and
:mod:`ashcore.boot.deploy`), and what ``ash check`` does besides."""

from __future__ import annotations

import json
import os

from ..fs import btrfs, osrelease
from ..fs.files import atomic_write
from .store import Store
from .tree import BASE, NewerTreeFormat, Snapshot, Tree


def clean_leftovers(store: Store) -> list[str]:
    """Delete working copies and half-deleted snapshots left by an interrupted ash."""
    notes: list[str] = []
    for stale in store.state.glob(".*.tmp-*"):  # atomic_write() interrupted before its rename
        stale.unlink()
    try:
        leftovers = sorted(n for n in os.listdir(store.rootfs) if n.startswith("."))
    except FileNotFoundError:
        return notes
    for name in leftovers:
        btrfs.ensure_absent(store.rootfs / name)
        kind, _, sid = name[1:].partition("-")
        what = {"work": "working copy", "trash": "half-deleted copy"}.get(kind, "leftover")
        notes.append(f"removed the {what} of snapshot {sid} left by an interrupted ash")
    return notes

def repair(store: Store, tree: Tree | None, *, thorough: bool = False) -> tuple[Tree, list[str]]:
    """Make the tree agree with the subvolumes on disk; say what was changed.

    Every changing command runs the cheap checks; ``thorough`` (``ash check``) also compares
    each snapshot's read-only flag with its mutability.
    """
    notes = []
    on_disk = store.on_disk()
    if tree is None:
        base = store.snapshot_path(BASE)
        tree = Tree(distro=osrelease.distro_id(base) if base.is_dir() else None)
        kept = " (the damaged one is kept as ash/tree.json.broken)" if (store.state / "tree.json.broken").exists() else ""
        notes.append(f"rebuilt the tree file from the snapshots on disk{kept}")
    for sid in tree.deleting:  # an interrupted del: finish it
        if sid in on_disk:
            btrfs.ensure_absent(store.snapshot_path(sid))
            on_disk.discard(sid)
        if sid in tree:
            tree.remove(sid)
        notes.append(f"finished deleting snapshot {sid}, which an interrupted ash had begun")
    tree.deleting = []
    for sid in sorted(set(tree.snapshots) - on_disk, reverse=True):
        tree.remove(sid)
        notes.append(f"forgot snapshot {sid}: its subvolume is gone")
    for sid in sorted(on_disk - set(tree.snapshots)):
        desc = "base snapshot" if sid == BASE else "recovered by ash check"
        tree.add(Snapshot(id=sid, parent=None, description=desc, mutable=not btrfs.is_readonly(store.snapshot_path(sid))))
        notes.append(f"adopted snapshot {sid} found on disk as a new tree")
    cyclic = _in_cycles(tree)
    for snap in tree.snapshots.values():
        if snap.parent is not None and (snap.parent not in tree or snap.id in cyclic):
            notes.append(f"snapshot {snap.id} had a missing parent {snap.parent}; it is now a tree of its own")
            snap.parent = None
    if BASE in tree and (tree[BASE].mutable or tree[BASE].parent is not None):
        tree[BASE].mutable, tree[BASE].parent = False, None
        notes.append("snapshot 0 is the base: made it immutable and top-level again")
    for snap in tree.snapshots.values() if thorough else ():
        path = store.snapshot_path(snap.id)
        if btrfs.is_readonly(path) == snap.mutable:
            btrfs.set_readonly(path, not snap.mutable)
            notes.append(f"set snapshot {snap.id} {'writable' if snap.mutable else 'read-only'} to match the tree")
    tree.next_id = max([tree.next_id, *(s + 1 for s in tree.snapshots)])
    return tree, notes

def load_for_repair(store: Store) -> Tree | None:
    """The tree, or ``None`` when the file is missing or damaged and must be rebuilt.

    A damaged file is first kept as ``tree.json.broken``; one written by a newer ash is not
    damaged, and is refused rather than rebuilt (that would lose its parents and descriptions).
    """
    try:
        raw = store.tree_file.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return Tree.from_json(json.loads(raw))
    except NewerTreeFormat as exc:
        raise store.newer(exc) from None
    except (ValueError, KeyError, TypeError):  # TreeFormatError is a ValueError
        atomic_write(store.state / "tree.json.broken", raw)
        return None


def _in_cycles(tree: Tree) -> set[int]:
    """Snapshots whose chain of parents loops (a damaged tree file); one pass over the tree."""
    state: dict[int, int] = {}  # 1: on the current path, 2: known to reach a root
    looping: set[int] = set()
    for start in tree.snapshots:
        path = []
        node: int | None = start
        while node is not None and node in tree and node not in state:
            state[node] = 1
            path.append(node)
            node = tree[node].parent
        if node is not None and state.get(node) == 1:
            looping.update(path[path.index(node):])
        for n in path:
            state[n] = 2
    return looping
