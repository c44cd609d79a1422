"""The snapshot store on a btrfs filesystem: where things live, the tree file, the lock.

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

from ..errors import AshError, LockBusy, UsageError
from ..fs.files import atomic_write
from .deployments import Deployments
from .tree import NewerTreeFormat, Snapshot, Tree

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
            raise self.newer(exc) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise AshError(f"{self.tree_file} is unreadable ({exc})", hint="rebuild it with 'ash check'") from None

    def newer(self, exc: NewerTreeFormat) -> AshError:
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
            command = " ".join(["ash", *sys.argv[1:]])[:200].encode(errors="backslashreplace")  # argv may not be UTF-8
            os.pwrite(fd, f"pid {os.getpid()}: ".encode() + command + b"\n", 0)
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

    # -- what is booted and deployed (see deployments.py) ----------------------------------------
    @property
    def deployments(self) -> Deployments:
        return Deployments(self.sysroot, self.path)

    def booted(self) -> int | None:
        """The snapshot the running system was deployed from, if ``sysroot`` is a booted deployment."""
        return self.deployments.booted_snapshot()

    def deployed(self) -> int | None:
        """The snapshot the bootloader boots next by default."""
        default = self.deployments.load(quiet=True).default
        return default.snapshot if default else None

    def deploy_pending(self) -> bool:
        """Whether a deploy was interrupted before the bootloader was switched (see ``boot/deploy.py``)."""
        return self.deployments.load(quiet=True).pending

    def current(self) -> int | None:
        booted = self.booted()
        return booted if booted is not None else self.deployed()
