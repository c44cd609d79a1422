"""The session of one ash run on a system: the guards, the store lock with the repairs that follow
it, and transactions (every change to a snapshot is made on a copy and committed atomically)."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..console import error_message, note, size_text, warn
from ..errors import AshError, NeedsRoot
from ..fs import btrfs
from ..fs.files import failpoint, free_bytes
from ..store import repair
from ..store.store import Store
from ..store.tree import InstalledProfile, Tree

if TYPE_CHECKING:
    from ..hooks.manager import Plugins
    from ..sandbox.chroot import Bind, Chroot
    from ..store.deployments import Deployment

CAP_SYS_ADMIN = 21  # linux/capability.h
#: The free space a change of a snapshot needs before it starts (what package managers write).
MIN_FREE = 128 << 20


def in_chroot() -> bool:
    """True when this process runs chrooted, decided from what can be read, and True when nothing
    can: its root differs from PID 1's (as systemd checks); where PID 1's root cannot be read (another
    mount namespace, no CAP_SYS_PTRACE), its root is no mount point of its own mount table."""
    try:
        mine, init = os.stat("/"), os.stat("/proc/1/root")
        return (mine.st_dev, mine.st_ino) != (init.st_dev, init.st_ino)
    except FileNotFoundError:
        return True  # no /proc: a bare chroot
    except OSError:
        pass
    try:
        with open("/proc/self/mountinfo") as f:
            return not any(line.split()[4] == "/" for line in f)
    except OSError:
        return True


def missing_privilege() -> str | None:
    """Why this root process cannot make snapshots and mounts, or None when it can."""
    try:
        status = Path("/proc/self/status").read_text()
        uid_map = Path("/proc/self/uid_map").read_text().split()
    except OSError:
        return "/proc is not mounted, so ash cannot tell what it may do"
    found = re.search(r"^CapEff:\s*([0-9a-f]+)$", status, re.M)
    if found is None or not int(found.group(1), 16) >> CAP_SYS_ADMIN & 1:
        return "it runs as root without the capability CAP_SYS_ADMIN (in a container or a restricted service?)"
    if uid_map[:3] != ["0", "0", "4294967295"]:
        return "it runs as root of a user namespace, which may not change the host's btrfs subvolumes or mounts"
    return None


class System:
    """A sysroot with its snapshot store and the plugins of this run."""

    def __init__(
        self,
        sysroot: Path,
        *,
        allow_chroot: bool = False,
        third_party: bool | None = None,
        plugins: Plugins | None = None,
    ) -> None:
        self.store = Store(sysroot)
        self.allow_chroot = allow_chroot
        self.third_party = third_party
        self.lock_fd: int | None = None
        self.repairs: list[str] = []  # what the last changing() repaired
        self.boot_menu_stale = False  # set when snapshots the boot menu lists were changed or deleted
        self._plugins = plugins

    @property
    def plugins(self) -> Plugins:
        if self._plugins is None:
            from ..hooks.manager import Plugins  # only the commands that call a hook load the plugins

            self._plugins = Plugins.load(third_party=self.third_party)
        return self._plugins

    def with_sysroot(self, sysroot: Path) -> System:
        """Another system (a new one the installer makes), with the same plugins and options."""
        return System(sysroot, allow_chroot=self.allow_chroot, third_party=self.third_party, plugins=self.plugins)

    # -- guards ----------------------------------------------------------------------------------
    def check_can_change(self) -> None:
        if os.geteuid() != 0:
            raise NeedsRoot("this command changes the system and needs root", hint="run it with sudo")
        if (why := missing_privilege()) is not None:
            raise NeedsRoot(f"this command changes the system, but {why}", hint="run ash as the host's full root")
        if not self.allow_chroot and in_chroot():
            raise AshError(
                "ash is running inside a chroot, where it could damage the system",
                hint="run it from the booted system, or pass --chroot if you really must",
            )

    @contextmanager
    def changing(self, *, thorough: bool = False) -> Iterator[Tree]:
        """Hold the store lock, clean up after any interrupted run, and yield the (repaired) tree.

        ``thorough`` is ``ash check``: the repairs check more, the tree file is written even when
        nothing changed (or it was missing), and what was repaired is left in :attr:`repairs` to show.
        """
        self.check_can_change()
        if not self.store.exists() and not (thorough and self.store.on_disk()):
            self.store.read_tree()  # raises the "no snapshot store" error
        with self.store.lock() as fd:
            self.lock_fd = fd
            try:
                notes, interrupted = repair.clean_leftovers(self.store)
                if thorough:
                    found, damage, sound = repair.recover(self.store)
                else:
                    found, damage, sound = self.store.load_sound(), [], True
                tree, fixes = repair.repair(self.store, found)
                fixes += repair.check_snapshots(self.store, tree, thorough=thorough, interrupted=interrupted)
                if damage or fixes or thorough:  # leftovers alone change nothing in it
                    self._save_repairs(tree, sound, bool(damage or fixes))
                self.repairs = notes + damage + fixes
                for message in [] if thorough else self.repairs:
                    note(message)
                if self.store.deploy_pending():  # an interrupted deploy is finished first
                    from ..boot import menu

                    for message in menu.finish_interrupted(self.plugins, self.store, tree):
                        note(message)
                try:
                    yield tree
                except OSError as exc:  # the store's filesystem, not another one (an ESP, say)
                    if exc.errno != errno.ENOSPC or free_bytes(self.store.path) >= MIN_FREE:
                        raise
                    raise AshError(
                        f"the filesystem of {self.store.path} is full", hint=self.store.space_hint(tree)
                    ) from exc
            finally:
                if self.boot_menu_stale:
                    self._refresh_boot_menu(tree)
                self.lock_fd = None

    def _save_repairs(self, tree: Tree, sound: bool, repaired: bool) -> None:
        """Write the repaired tree. On a full filesystem the command goes on without: what it writes
        itself carries the repairs, and until then every run makes them again (they only forget
        what is gone), so that the commands that free space still run."""
        try:
            self.store.save(tree, keep_previous=sound)
        except OSError as exc:
            if exc.errno != errno.ENOSPC or not sound:
                raise
            if repaired:
                warn("the filesystem is full: the repairs are not recorded yet (ash makes them again next time)")

    def _refresh_boot_menu(self, tree: Tree) -> None:
        """Have the bootloader list the snapshots as they are now (deleted ones gone, new kernels)."""
        self.boot_menu_stale = False
        if self.store.deployed() is None:
            return
        from ..boot import menu

        try:
            menu.refresh(self.plugins, self.store, tree)
        except Exception as exc:  # noqa: BLE001 - the change is done; only the menu lags behind
            warn(f"the boot menu was not updated ({error_message(exc)}); the next deploy rewrites it")

    # -- transactions ----------------------------------------------------------------------------
    @contextmanager
    def transaction(
        self,
        tree: Tree,
        snapshot_id: int,
        *,
        package_manager: bool = False,
        profiles: list[InstalledProfile] | None = None,
    ) -> Iterator[Chroot]:
        """Change snapshot ``snapshot_id`` through a writable working copy.

        The body runs commands in the yielded :class:`Chroot`. If it returns, the working copy
        replaces the snapshot in one atomic exchange; if it raises (or ash dies), the snapshot is
        untouched and the working copy is thrown away (now, or by the next ash run).

        ``profiles``, when given, is filled with the snapshot's record of installed profiles on
        entry; what the list holds when the body returns is recorded with the commit.
        """
        from ..sandbox.chroot import Chroot  # only changing commands pay for the sandbox machinery

        source, work = self.store.snapshot_path(snapshot_id), self.store.work_path(snapshot_id)
        btrfs.ensure_absent(work)
        self.check_space(tree)
        if package_manager:
            pm: str | None = self.plugins.package_manager_of(source, tree.distro)
        else:
            pm = self.plugins.package_manager_or_none(source, tree.distro)
        if profiles is not None:
            profiles[:] = tree[snapshot_id].profiles
        btrfs.snapshot(source, work, readonly=False)
        failpoint("tx:working-copy")
        chroot = Chroot(
            root=work, snapshot=snapshot_id, package_manager=pm, sysroot=self.store.sysroot, lock_fd=self.lock_fd
        )
        try:
            self.plugins.chroot_enter(chroot)
            yield chroot
            chroot.close()
            self._commit(tree, snapshot_id, work, profiles)
            self.boot_menu_stale = True
        except BaseException:
            try:
                chroot.close()
            finally:
                btrfs.ensure_absent(work)
                btrfs.wait_deleted(self.store.path)  # what the command wrote is free again when ash exits
            raise

    @contextmanager
    def scratch(self, tree: Tree, snapshot_id: int, *, timeout: float | None = None) -> Iterator[Chroot]:
        """A chroot of a throwaway copy of snapshot ``snapshot_id``: what runs in it is dropped, and
        the snapshot is never changed (checks of a candidate before it is deployed). Each command
        run in it is stopped after ``timeout`` seconds."""
        from ..sandbox.chroot import Chroot

        work = self.store.work_path(snapshot_id)
        btrfs.ensure_absent(work)
        btrfs.snapshot(self.store.snapshot_path(snapshot_id), work, readonly=False)
        pm = self.plugins.package_manager_or_none(work, tree.distro)
        chroot = Chroot(
            root=work,
            snapshot=snapshot_id,
            package_manager=pm,
            sysroot=self.store.sysroot,
            lock_fd=self.lock_fd,
            timeout=timeout,
        )
        try:
            self.plugins.chroot_enter(chroot)
            yield chroot
        finally:
            try:
                chroot.close()
            finally:
                btrfs.ensure_absent(work)

    def check_space(self, tree: Tree) -> None:
        """Refuse to start a change with less than :data:`MIN_FREE` free, naming what to delete; first
        wait for the space of deleted subvolumes (working copies, snapshots), which btrfs frees late."""
        if free_bytes(self.store.path) >= MIN_FREE:
            return
        btrfs.wait_deleted(self.store.path)
        free = free_bytes(self.store.path)
        if free < MIN_FREE:
            raise AshError(
                f"only {size_text(free)} are free on the filesystem of {self.store.path}"
                f" (a change needs {size_text(MIN_FREE)})",
                hint=self.store.space_hint(tree),
            )

    @contextmanager
    def live_chroot(self, tree: Tree, binds: tuple[Bind, ...] = ()) -> Iterator[Chroot]:
        """A chroot of the running deployment itself, not of a copy: what runs in it changes the
        running system at once, with no transaction, and is gone after the next deploy."""
        from ..sandbox.chroot import Chroot

        booted = self.running()
        root = self.store.deployments.path(booted.id)
        chroot = Chroot(
            root=root,
            snapshot=booted.snapshot,
            package_manager=self.plugins.package_manager_or_none(root, tree.distro),
            sysroot=self.store.sysroot,
            binds=list(binds),
            lock_fd=self.lock_fd,
        )
        try:
            self.plugins.chroot_enter(chroot)
            yield chroot
        finally:
            chroot.close()

    def running(self) -> Deployment:
        """The booted deployment, or a one-line refusal when ash does not run on one."""
        found = self.store.deployments.booted()
        if found is None:
            raise AshError(
                f"{self.store.sysroot} is not a booted ash deployment",
                hint="run this on the system booted from a deployment (see 'ash deploy')",
            )
        return found

    def _commit(self, tree: Tree, sid: int, work: Path, profiles: list[InstalledProfile] | None = None) -> None:
        """Make the working copy ``work`` snapshot ``sid``: read-only unless mutable, on disk, its
        content (and ``profiles``) recorded in the tree (a crash from here on leaves ``work``, which
        tells repair that the record may be ahead of the snapshot), then exchanged with the snapshot
        in one step."""
        failpoint("tx:before-commit")
        if not tree[sid].mutable:
            btrfs.set_readonly(work, True)
        failpoint("tx:readonly")
        btrfs.syncfs(work)
        failpoint("tx:synced")
        tree[sid].transid = btrfs.content_transid(work)
        if profiles is not None:
            tree[sid].profiles = list(profiles)
        self.store.save(tree)
        failpoint("tx:recorded")
        btrfs.exchange(work, self.store.snapshot_path(sid))  # the commit point
        failpoint("tx:exchanged")
        btrfs.delete(work)  # now holds the old snapshot
        failpoint("tx:cleaned")
