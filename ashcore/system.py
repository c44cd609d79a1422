"""The system ash manages: a sysroot with its snapshot store, the plugins, and the rules for changing it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from . import btrfs
from .errors import AshError, NeedsRoot
from .files import failpoint
from .store import Store
from .tree import Tree

if TYPE_CHECKING:
    from .chroot import Bind, Chroot


def note(message: str) -> None:
    print(f"ash: {message}", file=sys.stderr)


def in_chroot() -> bool:
    """True when this process runs chrooted (its root differs from PID 1's, as systemd checks)."""
    try:
        mine, init = os.stat("/"), os.stat("/proc/1/root")
    except FileNotFoundError:
        return True  # no /proc: a bare chroot
    except OSError:
        return False  # e.g. PID 1 lives in another mount namespace: we cannot tell
    return (mine.st_dev, mine.st_ino) != (init.st_dev, init.st_ino)


class System:
    def __init__(self, sysroot: Path, *, allow_chroot: bool = False, third_party: bool | None = None) -> None:
        self.store = Store(sysroot)
        self.allow_chroot = allow_chroot
        self.third_party = third_party
        self.lock_fd: int | None = None
        self.boot_menu_stale = False  # set when snapshots the boot menu lists were changed or deleted
        self._plugins = None

    @property
    def plugins(self):
        if self._plugins is None:
            from .plugins import Plugins

            self._plugins = Plugins.load(third_party=self.third_party)
        return self._plugins

    # -- guards ----------------------------------------------------------------------------------
    def check_can_change(self) -> None:
        if os.geteuid() != 0:
            raise NeedsRoot("this command changes the system and needs root", hint="run it with sudo")
        if not self.allow_chroot and in_chroot():
            raise AshError(
                "ash is running inside a chroot, where it could damage the system",
                hint="run it from the booted system, or pass --chroot if you really must",
            )

    @contextmanager
    def changing(self) -> Iterator[Tree]:
        """Hold the store lock, clean up after any interrupted run, and yield the (repaired) tree."""
        self.check_can_change()
        if not self.store.exists():
            self.store.load()  # raises the "no snapshot store" error
        with self.store.lock() as fd:
            self.lock_fd = fd
            try:
                notes = self.store.clean_leftovers()
                tree, fixes = self.store.repair(self.store.load_for_repair())
                if fixes:
                    self.store.save(tree)
                for message in notes + fixes:
                    note(message)
                if self.store.deploy_pending():  # an interrupted deploy is finished first
                    from .deploy import finish_interrupted

                    for message in finish_interrupted(self, tree):
                        note(message)
                yield tree
            finally:
                if self.boot_menu_stale:
                    self._refresh_boot_menu(tree)
                self.lock_fd = None

    def _refresh_boot_menu(self, tree: Tree) -> None:
        """Have the bootloader list the snapshots as they are now (deleted ones gone, new kernels)."""
        self.boot_menu_stale = False
        if self.store.deployed() is None:
            return
        from .deploy import refresh_menu

        try:
            refresh_menu(self, tree)
        except Exception as exc:  # noqa: BLE001 - the change is done; only the menu lags behind
            note(f"warning: the boot menu was not updated ({getattr(exc, 'message', exc)}); the next deploy rewrites it")

    # -- transactions ----------------------------------------------------------------------------
    @contextmanager
    def transaction(self, tree: Tree, snapshot_id: int, *, package_manager: bool = False) -> Iterator[Chroot]:
        """Change snapshot ``snapshot_id`` through a writable working copy.

        The body runs commands in the yielded :class:`Chroot`. If it returns, the working copy
        replaces the snapshot in one atomic exchange; if it raises (or ash dies), the snapshot is
        untouched and the working copy is thrown away (now, or by the next ash run).
        """
        from .chroot import Chroot  # only changing commands pay for the sandbox machinery

        snap = tree[snapshot_id]
        source, work = self.store.snapshot_path(snapshot_id), self.store.work_path(snapshot_id)
        btrfs.ensure_absent(work)
        pm = self.plugins.package_manager_of(source, tree.distro) if package_manager else self.package_manager_or_none(source, tree)
        btrfs.snapshot(source, work, readonly=False)
        failpoint("tx:working-copy")
        chroot = Chroot(root=work, snapshot=snapshot_id, package_manager=pm, sysroot=self.store.sysroot, lock_fd=self.lock_fd)
        try:
            self.plugins.call_all("ash_chroot_enter", chroot=chroot)
            yield chroot
            chroot.close()
            self._commit(work, source, readonly=not snap.mutable)
            self.boot_menu_stale = True
        except BaseException:
            try:
                chroot.close()
            finally:
                btrfs.ensure_absent(work)
            raise

    @contextmanager
    def live_chroot(self, tree: Tree, binds: tuple[Bind, ...] = ()) -> Iterator[Chroot]:
        """A chroot of the running deployment itself, not of a copy: what runs in it changes the
        running system at once, with no transaction, and is gone after the next deploy."""
        from .chroot import Chroot
        from .deploy import Deployments, running

        booted = running(self)
        root = Deployments(self.store).path(booted.id)
        chroot = Chroot(root=root, snapshot=booted.snapshot, package_manager=self.package_manager_or_none(root, tree),
                        sysroot=self.store.sysroot, binds=list(binds), lock_fd=self.lock_fd)  # fmt: skip
        try:
            self.plugins.call_all("ash_chroot_enter", chroot=chroot)
            yield chroot
        finally:
            chroot.close()

    def package_manager_or_none(self, root: Path, tree: Tree) -> str | None:
        try:
            return self.plugins.package_manager_of(root, tree.distro)
        except AshError:
            return None

    @staticmethod
    def _commit(work: Path, dest: Path, *, readonly: bool) -> None:
        failpoint("tx:before-commit")
        if readonly:
            btrfs.set_readonly(work, True)
        failpoint("tx:readonly")
        btrfs.syncfs(work)
        failpoint("tx:synced")
        btrfs.exchange(work, dest)  # the commit point
        failpoint("tx:exchanged")
        btrfs.delete(work)  # now holds the old snapshot
        failpoint("tx:cleaned")
