"""Creating, copying, deleting and toggling snapshots (metadata and subvolumes kept in step).

Ordering rule for crash safety: a new snapshot is written to the tree file *before* its subvolume
exists, and snapshots to delete are listed in the tree file (``deleting``) *before* they are moved
aside. Whatever a crash interrupts, the repair that every later ash run makes (see
:func:`ashcore.store.repair.repair`) finishes it: an entry without a subvolume is forgotten, an aside
(``.trash-N``) subvolume is deleted, and a listed deletion is completed.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AshError, UsageError
from ..fs import btrfs, osrelease
from ..fs.files import failpoint, free_bytes
from ..process import run
from ..store.store import Store
from ..store.tree import BASE, Snapshot, Tree
from .system import MIN_FREE, System

if TYPE_CHECKING:
    from ..hooks.records import BootstrapOptions


def copy(system: System, tree: Tree, source: int, parent: int | None, description: str) -> int:
    """Snapshot ``source`` as a new snapshot under ``parent`` (``None``: a new top-level tree)."""
    store = system.store
    new = tree.allocate(*store.on_disk())
    mutable = tree[source].mutable or (parent is not None and tree[parent].mutable)
    tree.add(
        Snapshot(
            id=new,
            parent=parent,
            description=description,
            mutable=mutable,
            transid=tree[source].transid,
            profiles=list(tree[source].profiles),  # what it has installed comes with its files
        )
    )
    try:
        store.save(tree)
    except BaseException:
        tree.remove(new)
        raise
    failpoint("copy:saved")
    try:
        btrfs.snapshot(store.snapshot_path(source), store.snapshot_path(new), readonly=not mutable)
    except BaseException:
        tree.remove(new)
        store.save(tree)
        raise
    return new


def copy_tree(system: System, tree: Tree, source: int) -> int:
    """Copy ``source`` and all its descendants, keeping their shape, as a sibling of ``source``."""
    mapping = {source: copy(system, tree, source, tree[source].parent, f"clone of {source}")}
    for parent, child in list(tree.edges(source)):
        mapping[child] = copy(system, tree, child, mapping[parent], f"clone of {child}")
    return mapping[source]


def deletable(system: System, tree: Tree, roots: list[int]) -> list[int]:
    """The snapshots that deleting ``roots`` deletes (with their descendants, children first), or a
    one-line refusal when one of them is the base or still boots: the running system, the default
    deployment, or the fallback deployment that the boot menu and ``rollback`` go back to."""
    store = system.store
    doomed: list[int] = []
    for root in roots:
        doomed += [s for s in tree.subtree(root) if s not in doomed]
    protected = store.protected()
    for sid in doomed:
        if sid in protected:
            raise UsageError(
                f"cannot delete snapshot {sid}: it is {protected[sid]}"
                + ("" if sid in roots else f" (a descendant of {', '.join(map(str, roots))})"),
                hint=None if sid == BASE else "deploy another snapshot first",
            )
    return doomed[::-1]


def delete(system: System, tree: Tree, order: list[int]) -> list[int]:
    """Delete the snapshots ``order`` that :func:`deletable` gave, children before parents."""
    store = system.store
    tree.deleting = order
    try:
        store.save(tree)  # from here on, a crash is finished by the next ash run (Store.repair)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        return _delete_on_a_full_filesystem(system, tree, order)
    failpoint("delete:marked")
    for sid in order:
        path = store.snapshot_path(sid)
        if path.exists():
            os.rename(path, store.trash_path(sid))
        failpoint("delete:aside")
    for sid in order:
        tree.remove(sid)
    tree.deleting = []
    store.save(tree)
    system.boot_menu_stale = True
    failpoint("delete:saved")
    for sid in order:
        btrfs.ensure_absent(store.trash_path(sid))
    if free_bytes(store.path) < MIN_FREE:  # the user is freeing space: have it back now
        btrfs.wait_deleted(store.path)
    return order


def _delete_on_a_full_filesystem(system: System, tree: Tree, order: list[int]) -> list[int]:
    """Delete with no room to write the tree file first: the subvolumes go first, and once btrfs has
    freed their space the tree file says so. A crash in between loses nothing that was to stay: the
    next ash run forgets the entries whose subvolume is gone (Store.repair)."""
    store = system.store
    tree.deleting = []
    for sid in order:
        btrfs.ensure_absent(store.snapshot_path(sid))
        failpoint("delete:full-deleted")
    btrfs.wait_deleted(store.path)
    for sid in order:
        tree.remove(sid)
    try:
        store.save(tree)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise AshError(
            f"deleted snapshot(s) {', '.join(map(str, order))}, but that freed too little space to record it",
            hint=store.space_hint(tree),
        ) from None
    system.boot_menu_stale = True
    return order


def set_mutable(system: System, tree: Tree, sid: int, mutable: bool) -> None:
    if sid == BASE and mutable:
        raise UsageError("the base snapshot 0 cannot be made mutable", hint="clone it and change the clone")
    tree[sid].mutable = mutable
    if not mutable:  # from now on its files are what they are now
        tree[sid].transid = btrfs.content_transid(system.store.snapshot_path(sid))
    system.store.save(tree)
    failpoint("mutable:saved")
    btrfs.set_readonly(system.store.snapshot_path(sid), not mutable)


def init(store: Store, *, source: Path | None, distro: str | None, fill=None) -> Tree:
    """Create the store at ``store.path`` with snapshot 0 from a directory, an archive, or ``fill``.

    ``fill(target)`` is how a distro plugin's ``bootstrap`` populates the base. The base is built
    in a working copy and only becomes snapshot 0 (and the tree file appears) once it is complete.
    """
    if store.exists():
        raise AshError(f"{store.path} already holds a snapshot store", hint="see it with 'ash tree'")
    kind = btrfs.filesystem_type(store.sysroot)
    if kind != "btrfs":
        raise AshError(f"{store.sysroot} is on {kind}, not btrfs", hint="ash keeps its snapshots on a btrfs filesystem")
    if not store.path.exists():
        btrfs.create(store.path)
    if store.on_disk():
        raise AshError(f"{store.path} has snapshots but no tree file", hint="recover them with 'ash check'")
    store.rootfs.mkdir(parents=True, exist_ok=True)
    with store.lock():
        return _init_base(store, source, distro, fill)


def _init_base(store: Store, source: Path | None, distro: str | None, fill) -> Tree:
    work = store.work_path(BASE)
    btrfs.ensure_absent(work)
    btrfs.create(work)
    try:
        if fill is not None:
            fill(work)
        elif source is None:
            raise UsageError("say where the base comes from: --from DIR|ARCHIVE or --bootstrap DISTRO")
        elif source.is_dir():
            run(["cp", "-a", "--reflink=auto", "--one-file-system", f"{source}/.", work])
        elif source.is_file():
            run(
                [
                    "tar",
                    "--extract",
                    "--numeric-owner",
                    "--xattrs",
                    "--xattrs-include=*",
                    "--acls",
                    "--preserve-permissions",
                    "--file",
                    source,
                    "--directory",
                    work,
                ]
            )
        else:
            raise UsageError(f"{source} is neither a directory nor an archive")
        detected = distro or osrelease.distro_id(work)
        btrfs.set_readonly(work, True)
        btrfs.syncfs(work)
        transid = btrfs.content_transid(work)
        os.rename(work, store.snapshot_path(BASE))
    except BaseException:
        btrfs.ensure_absent(work)
        raise
    tree = Tree(distro=detected)
    tree.add(Snapshot(id=BASE, parent=None, description="base snapshot", transid=transid))
    store.save(tree)
    return tree


def bootstrap_into(system: System, options: BootstrapOptions) -> Callable[[Path], None]:
    """A ``fill`` for :func:`init` that asks the distro's plugin to bootstrap the base."""
    plugin = system.plugins.package_manager_for([options.distro])

    def fill(target: Path) -> None:
        system.plugins.bootstrap(plugin, target, options)

    return fill
