"""Repairs: what every changing command does first, so that whatever a crash interrupted is
finished or undone (see the ordering rules in :mod:`ashcore.ops.snapshots` and
:mod:`ashcore.boot.deploy`), and what ``ash check`` does besides."""

from __future__ import annotations

import json
import os

from ..fs import btrfs, osrelease
from .store import PREVIOUS, Store
from .tree import BASE, InstalledProfile, NewerTreeFormat, Snapshot, Tree, TreeFormatError, salvage


def clean_leftovers(store: Store) -> tuple[list[str], set[int]]:
    """Delete working copies and half-deleted snapshots left by an interrupted ash; say what was
    deleted, and return the snapshots whose transaction was interrupted."""
    notes: list[str] = []
    for stale in store.state.glob(".*.tmp-*"):  # atomic_write() interrupted before its rename
        stale.unlink()
    try:
        leftovers = sorted(n for n in os.listdir(store.rootfs) if n.startswith("."))
    except FileNotFoundError:
        return notes, set()
    interrupted = set()
    for name in leftovers:
        btrfs.ensure_absent(store.rootfs / name)
        kind, _, sid = name[1:].partition("-")
        what = {"work": "working copy", "trash": "half-deleted copy"}.get(kind, "leftover")
        notes.append(f"removed the {what} of snapshot {sid} left by an interrupted ash")
        if kind == "work" and sid.isdigit():
            interrupted.add(int(sid))
    return notes, interrupted


def repair(store: Store, tree: Tree | None) -> tuple[Tree, list[str]]:
    """Make the tree agree with the subvolumes on disk (which exist, which are being deleted, what
    the base is); say what was changed."""
    notes: list[str] = []
    on_disk = store.on_disk()
    base = store.snapshot_path(BASE)
    if tree is None:
        tree = Tree()
        notes.append("rebuilt the tree file from the snapshots on disk")
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
        tree.add(
            Snapshot(id=sid, parent=None, description=desc, mutable=not btrfs.is_readonly(store.snapshot_path(sid)))
        )
        notes.append(f"adopted snapshot {sid} found on disk as a new tree")
    for snap in tree.snapshots.values():
        if snap.parent is not None and snap.parent not in tree:
            notes.append(f"snapshot {snap.id} had a missing parent {snap.parent}; it is now a tree of its own")
            snap.parent = None
    if BASE in tree and (tree[BASE].mutable or tree[BASE].parent is not None):
        tree[BASE].mutable, tree[BASE].parent = False, None
        notes.append("snapshot 0 is the base: made it immutable and top-level again")
    if tree.distro is None and base.is_dir():
        tree.distro = osrelease.distro_id(base)
    tree.next_id = max([tree.next_id, *(s + 1 for s in tree.snapshots)])
    return tree, notes


def recover(store: Store) -> tuple[Tree | None, list[str], bool]:
    """For ``ash check``: the tree as well as its files allow, what was wrong, and whether the tree
    file was sound (only a sound file becomes ``tree.json.prev`` when the repaired tree is saved).

    A damaged file is kept under a new name (:meth:`Store.keep_damaged`) and salvaged entry by
    entry; one that cannot be parsed at all gives way to ``tree.json.prev``; with neither, the tree
    is ``None`` and :func:`repair` rebuilds it from the subvolumes. A file written by a newer ash
    is not damaged, and is refused rather than touched.
    """
    try:
        raw = store.tree_file.read_bytes()
    except FileNotFoundError:
        return _previous(store, [f"{store.tree_file.name} was missing"])
    try:
        tree, problems = salvage(json.loads(raw))
    except NewerTreeFormat as exc:
        raise store.newer(exc) from None
    except (ValueError, TreeFormatError) as exc:  # not JSON, or not an ash tree at all
        kept = store.keep_damaged(raw)
        return _previous(store, [f"{store.tree_file.name} was unreadable ({exc}); kept it as ash/{kept.name}"])
    if not problems:
        return tree, [], True
    kept = store.keep_damaged(raw)
    return tree, [*problems, f"kept the damaged tree file as ash/{kept.name}"], False


def _previous(store: Store, notes: list[str]) -> tuple[Tree | None, list[str], bool]:
    """The tree of ``tree.json.prev``, salvaged, or ``None`` when there is none to read."""
    try:
        tree, problems = salvage(json.loads((store.state / PREVIOUS).read_bytes()))
    except (OSError, ValueError, TreeFormatError):
        return None, notes, False
    return tree, [*notes, f"took the tree from ash/{PREVIOUS}, the version before the last change", *problems], False


def check_snapshots(
    store: Store, tree: Tree, *, thorough: bool = False, interrupted: frozenset[int] | set[int] = frozenset()
) -> list[str]:
    """Every changing command checks that no immutable snapshot is writable (and makes it read-only
    again); ``thorough`` (``ash check``) also makes writable the mutable ones that are not, and
    reports the immutable snapshots whose files changed since ash committed them. ``interrupted``
    are the snapshots whose transaction a crash cut short: their record is taken from the disk."""
    notes: list[str] = []
    snapshots = list(tree.snapshots.values())
    flags = btrfs.readonly_flags(store.rootfs, [store.snapshot_name(s.id) for s in snapshots])
    for snap, readonly in zip(snapshots, flags, strict=True):
        if not thorough and snap.id not in interrupted and readonly != snap.mutable:
            continue  # the common case, in step: nothing to do (a store may hold thousands)
        notes += _check_snapshot(store, snap, readonly, thorough=thorough, interrupted=snap.id in interrupted)
    return notes


def _check_snapshot(store: Store, snap: Snapshot, readonly: bool, *, thorough: bool, interrupted: bool) -> list[str]:
    """The read-only flag (``readonly``) against the mutability, and (``thorough``) the files
    against the record."""
    path = store.snapshot_path(snap.id)
    notes = []
    if readonly == snap.mutable and (not snap.mutable or thorough):
        btrfs.set_readonly(path, not snap.mutable)
        why = "" if snap.mutable else ", though it is immutable (changed outside ash?)"
        notes.append(f"set snapshot {snap.id} {'writable' if snap.mutable else 'read-only'}{why}")
    if interrupted and btrfs.content_transid(path) != snap.transid:
        # a commit cut short after its record was written but before the exchange: the snapshot is
        # the old one, and so are its installed profiles (the tree file before that record says them)
        previous = _previous_profiles(store, snap.id, snap.profiles)
        if previous != snap.profiles:
            snap.profiles = previous
            notes.append(
                f"snapshot {snap.id}: took its installed profiles back to what its files have (a commit cut short)"
            )
    if snap.mutable:
        return notes
    actual = btrfs.content_transid(path) if thorough or interrupted else None
    if interrupted or (thorough and snap.transid is None):
        snap.transid = actual  # a commit cut short, or a tree from before ash kept this record
    elif thorough and actual != snap.transid:
        notes.append(
            f"snapshot {snap.id} has changed since ash committed it (outside ash): its files are not what"
            " ash made; delete it, or change it with ash to commit it anew"
        )
    return notes


def _previous_profiles(store: Store, sid: int, current: list[InstalledProfile]) -> list[InstalledProfile]:
    """Snapshot ``sid``'s installed profiles as ``tree.json.prev`` has them (``current`` if it cannot say)."""
    try:
        previous, _ = salvage(json.loads((store.state / PREVIOUS).read_bytes()))
    except (OSError, ValueError, TreeFormatError):
        return current
    return previous[sid].profiles if sid in previous else current
