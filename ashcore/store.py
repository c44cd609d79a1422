"""The snapshot store on a btrfs filesystem: where things live, the tree file, the lock, repairs.

Layout (see docs/layout.md)::

    <sysroot>/.snapshots/            subvolume @.snapshots on an installed system
        ash/tree.json                the tree (atomic writes, versioned)
        ash/lock                     flock'ed by every ash that changes the store
        rootfs/snapshot-<N>          snapshot N, a subvolume (read-only unless mutable)
        rootfs/.work-<N>             working copy of a transaction on N (garbage after a crash)
        rootfs/.trash-<N>            snapshot N being deleted (garbage after a crash)

Working copies and trash sit beside the snapshots because btrfs renames a read-only subvolume
only within its directory, and the commit of a transaction is such a rename (an atomic exchange).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import btrfs, osrelease
from .errors import AshError, LockBusy, UsageError
from .files import atomic_write, in_root
from .tree import BASE, NewerTreeFormat, Snapshot, Tree

STORE_DIR = ".snapshots"
_SNAPSHOT_RE = re.compile(r"snapshot-(\d+)")


class Store:
    def __init__(self, sysroot: Path) -> None:
        self.sysroot = sysroot
        self.path = sysroot / STORE_DIR
        self.state = self.path / "ash"
        self.tree_file = self.state / "tree.json"
        self.rootfs = self.path / "rootfs"

    # -- paths -----------------------------------------------------------------------------------
    def snapshot_path(self, snapshot_id: int) -> Path:
        return self.rootfs / f"snapshot-{snapshot_id}"

    def work_path(self, snapshot_id: int) -> Path:
        return self.rootfs / f".work-{snapshot_id}"

    def trash_path(self, snapshot_id: int) -> Path:
        return self.rootfs / f".trash-{snapshot_id}"

    def exists(self) -> bool:
        return self.tree_file.exists()

    def on_disk(self) -> set[int]:
        """Numbers of the snapshot subvolumes present under ``rootfs/``."""
        try:
            names = os.listdir(self.rootfs)
        except FileNotFoundError:
            return set()
        return {int(m.group(1)) for n in names if (m := _SNAPSHOT_RE.fullmatch(n))}

    # -- the tree file ---------------------------------------------------------------------------
    def load(self) -> Tree:
        try:
            text = self.tree_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise AshError(
                f"no snapshot store at {self.path}",
                hint="create one with 'ash init', or point --sysroot at an ash system",
            ) from None
        except PermissionError:
            raise AshError(f"cannot read {self.tree_file}", hint="run ash as root") from None
        try:
            return Tree.from_json(json.loads(text))
        except NewerTreeFormat as exc:
            raise self._newer(exc) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise AshError(f"{self.tree_file} is unreadable ({exc})", hint="rebuild it with 'ash check'") from None

    def _newer(self, exc: NewerTreeFormat) -> AshError:
        return AshError(
            f"{self.tree_file} was written by a newer ash ({exc}); this one will not change it",
            hint="use the newer ash (for example from the snapshot that wrote it), or upgrade this one",
        )

    def save(self, tree: Tree) -> None:
        atomic_write(self.tree_file, json.dumps(tree.to_json(), separators=(",", ":")) + "\n")

    # -- the lock --------------------------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[int]:
        """Hold the store lock; yield its file descriptor (children keep the lock while they live)."""
        self.state.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.state / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "unknown process"
                raise LockBusy(
                    f"the snapshot store is in use by another ash ({holder})",
                    hint="wait for it to finish, then try again",
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}: {' '.join(['ash', *sys.argv[1:]])[:200]}\n".encode(), 0)
            yield fd
        finally:
            os.close(fd)

    # -- snapshot lookups ------------------------------------------------------------------------
    @staticmethod
    def parse_id(text: str) -> int:
        if not re.fullmatch(r"\d{1,9}", text.strip()):
            raise UsageError(f"'{text}' is not a snapshot number", hint="see 'ash tree' for the snapshots")
        return int(text)

    def require(self, tree: Tree, text: str | int) -> Snapshot:
        sid = text if isinstance(text, int) else self.parse_id(text)
        if sid not in tree:
            raise UsageError(f"snapshot {sid} does not exist", hint="see 'ash tree' for the snapshots")
        return tree[sid]

    # -- deployment state (written by deploy) ----------------------------------------------------
    def booted(self) -> int | None:
        """The snapshot the running system was deployed from, if ``sysroot`` is a booted deployment."""
        try:
            return int(in_root(self.sysroot, "usr/lib/ash/snapshot").read_text().strip())
        except (OSError, ValueError):
            return None

    def deployed(self) -> int | None:
        """The snapshot the bootloader boots next by default."""
        try:
            return int(self._deploy_state()["snapshot"])
        except (KeyError, TypeError, ValueError):
            return None

    def deploy_pending(self) -> bool:
        """Whether a deploy was interrupted before the bootloader was switched (see ``deploy.py``)."""
        return bool(self._deploy_state().get("bootloader_pending"))

    def _deploy_state(self) -> dict:
        """``deploy.json`` read without the deploy machinery, which read-only commands do not import."""
        try:
            data = json.loads((self.state / "deploy.json").read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def current(self) -> int | None:
        booted = self.booted()
        return booted if booted is not None else self.deployed()

    # -- repairs ---------------------------------------------------------------------------------
    def clean_leftovers(self) -> list[str]:
        """Delete working copies and half-deleted snapshots left by an interrupted ash."""
        notes = []
        for stale in self.state.glob(".*.tmp-*"):  # atomic_write() interrupted before its rename
            stale.unlink()
        try:
            leftovers = sorted(n for n in os.listdir(self.rootfs) if n.startswith("."))
        except FileNotFoundError:
            return notes
        for name in leftovers:
            btrfs.ensure_absent(self.rootfs / name)
            kind, _, sid = name[1:].partition("-")
            what = {"work": "working copy", "trash": "half-deleted copy"}.get(kind, "leftover")
            notes.append(f"removed the {what} of snapshot {sid} left by an interrupted ash")
        return notes

    def repair(self, tree: Tree | None, *, thorough: bool = False) -> tuple[Tree, list[str]]:
        """Make the tree agree with the subvolumes on disk; say what was changed.

        Every changing command runs the cheap checks; ``thorough`` (``ash check``) also compares
        each snapshot's read-only flag with its mutability.
        """
        notes = []
        on_disk = self.on_disk()
        if tree is None:
            base = self.snapshot_path(BASE)
            tree = Tree(distro=(osrelease.distro_ids(base) or [None])[0] if base.is_dir() else None)
            kept = " (the damaged one is kept as ash/tree.json.broken)" if (self.state / "tree.json.broken").exists() else ""
            notes.append(f"rebuilt the tree file from the snapshots on disk{kept}")
        for sid in tree.deleting:  # an interrupted del: finish it
            if sid in on_disk:
                btrfs.ensure_absent(self.snapshot_path(sid))
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
            tree.add(Snapshot(id=sid, parent=None, description=desc, mutable=not btrfs.is_readonly(self.snapshot_path(sid))))
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
            path = self.snapshot_path(snap.id)
            if btrfs.is_readonly(path) == snap.mutable:
                btrfs.set_readonly(path, not snap.mutable)
                notes.append(f"set snapshot {snap.id} {'writable' if snap.mutable else 'read-only'} to match the tree")
        tree.next_id = max([tree.next_id, *(s + 1 for s in tree.snapshots)])
        return tree, notes

    def load_for_repair(self) -> Tree | None:
        """The tree, or ``None`` when the file is missing or damaged and must be rebuilt.

        A damaged file is first kept as ``tree.json.broken``; one written by a newer ash is not
        damaged, and is refused rather than rebuilt (that would lose its parents and descriptions).
        """
        try:
            raw = self.tree_file.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return Tree.from_json(json.loads(raw))
        except NewerTreeFormat as exc:
            raise self._newer(exc) from None
        except (ValueError, KeyError, TypeError):  # TreeFormatError is a ValueError
            atomic_write(self.state / "tree.json.broken", raw)
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
