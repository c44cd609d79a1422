"""The snapshot store on a btrfs filesystem: where things live, the tree file, the lock.

Layout (see docs/layout.md)::

    <sysroot>/.snapshots/            subvolume @.snapshots on an installed system
        ash/tree.json                the tree (atomic writes, versioned)
        ash/tree.json.prev           the tree before the last change
        ash/tree.json.broken-<time>  a damaged tree file, as 'ash check' found it
        ash/lock                     flock'ed by every ash that changes the store
        rootfs/snapshot-<N>          snapshot N, a subvolume (read-only unless mutable)
        rootfs/.work-<N>             working copy of a transaction on N (garbage after a crash)
        rootfs/.trash-<N>            snapshot N being deleted (garbage after a crash)

Working copies and trash sit beside the snapshots because btrfs renames a read-only subvolume
only within its directory, and the commit of a transaction is such a rename (an atomic exchange).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..console import printable, warn
from ..errors import AshError, LockBusy, UsageError
from ..fs.files import atomic_write
from .deployments import Deployments
from .tree import BASE, NewerTreeFormat, Snapshot, Tree, TreeFormatError, salvage

STORE_DIR = ".snapshots"
PREVIOUS = "tree.json.prev"  # the tree file as it was before the last change
SNAPSHOT_HINT = "see 'ash tree' for the snapshots"
REPAIR_HINT = "repair it with 'ash check', which keeps every valid entry and a copy of the damaged file"
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
        return self.rootfs / self.snapshot_name(snapshot_id)

    @staticmethod
    def snapshot_name(snapshot_id: int) -> str:
        """The name of snapshot ``snapshot_id``'s subvolume in ``rootfs/``."""
        return f"snapshot-{snapshot_id}"

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
    def read_tree(self) -> tuple[Tree, list[str]]:
        """The tree and what is wrong with its file (see :func:`~ashcore.store.tree.salvage`).

        Raises a one-line :class:`AshError` when there is no tree file, it cannot be parsed at
        all, or a newer ash wrote it.
        """
        try:
            data = json.loads(self.tree_file.read_bytes())
        except FileNotFoundError:
            raise AshError(
                f"no snapshot store at {self.path}",
                hint="create one with 'ash init', or point --sysroot at an ash system",
            ) from None
        except PermissionError:
            raise AshError(f"cannot read {self.tree_file}", hint="run ash as root") from None
        except ValueError as exc:
            raise AshError(f"{self.tree_file} is unreadable ({exc})", hint=REPAIR_HINT) from None
        try:
            return salvage(data)
        except NewerTreeFormat as exc:
            raise self.newer(exc) from None
        except TreeFormatError as exc:
            raise AshError(f"{self.tree_file} is unreadable ({exc})", hint=REPAIR_HINT) from None

    def load(self) -> Tree:
        """The tree, for commands that only look: what is wrong with the file is said in warnings,
        and the tree shown as well as it can be read (no snapshot left out)."""
        tree, problems = self.read_tree()
        for problem in problems:
            warn(f"{self.tree_file}: {problem} (shown so; 'ash check' repairs the file)")
        return tree

    def load_sound(self) -> Tree:
        """The tree, for commands that change it: a file that is not sound is refused."""
        tree, problems = self.read_tree()
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise AshError(f"{self.tree_file} is damaged: {problems[0]}{more}; nothing was changed", hint=REPAIR_HINT)
        return tree

    def newer(self, exc: NewerTreeFormat) -> AshError:
        return AshError(
            f"{self.tree_file} was written by a newer ash ({exc}); this one will not change it",
            hint="use the newer ash (for example from the snapshot that wrote it), or upgrade this one",
        )

    def save(self, tree: Tree, *, keep_previous: bool = True) -> None:
        """Write the tree file; the version it replaces stays as ``tree.json.prev`` (unless
        ``keep_previous`` is False: the replaced one was damaged, and the last good one stays)."""
        if keep_previous and self.tree_file.exists():
            link = self.state / f".{PREVIOUS}.tmp-{os.getpid()}"
            link.unlink(missing_ok=True)
            os.link(self.tree_file, link)
            os.replace(link, self.state / PREVIOUS)
            link.unlink(missing_ok=True)  # still there if both names were already the same file
        atomic_write(self.tree_file, json.dumps(tree.to_json(), separators=(",", ":")) + "\n")

    def keep_damaged(self, raw: bytes) -> Path:
        """Keep a damaged tree file's contents beside it, under a name never used before."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        for n in range(1, 1000):
            path = self.state / f"tree.json.broken-{stamp}{'' if n == 1 else f'-{n}'}"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
                os.fsync(f.fileno())
            return path
        raise AshError(
            f"too many damaged copies of the tree file in {self.state}", hint="delete old tree.json.broken-* files"
        )

    # -- the lock --------------------------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[int]:
        """Hold the store lock; yield its file descriptor (children keep the lock while they live)."""
        self.state.mkdir(parents=True, exist_ok=True)
        try:  # never through a link: whatever it points at is not ours to write
            fd = os.open(self.state / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise AshError(
                f"{self.state / 'lock'} is a symbolic link, not ash's lock file",
                hint="remove the link (no ash is using it), then try again",
            ) from None
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
            command = printable(" ".join(["ash", *sys.argv[1:]]))[:200]
            try:
                os.pwrite(fd, f"pid {os.getpid()}: {command}\n".encode(), 0)
            except OSError as exc:  # a full filesystem: the lock holds all the same, unnamed
                if exc.errno != errno.ENOSPC:
                    raise
            yield fd
        finally:
            os.close(fd)

    # -- snapshot lookups ------------------------------------------------------------------------
    @staticmethod
    def parse_id(text: str) -> int:
        if not re.fullmatch(r"[0-9]{1,9}", text.strip()):
            raise UsageError(f"{printable(text)!r} is not a snapshot number", hint=SNAPSHOT_HINT)
        return int(text)

    def require(self, tree: Tree, text: str | int) -> Snapshot:
        sid = text if isinstance(text, int) else self.parse_id(text)
        if sid not in tree:
            raise UsageError(f"snapshot {sid} does not exist", hint=SNAPSHOT_HINT)
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

    def protected(self) -> dict[int, str]:
        """The snapshots that may not be deleted, each with why: the base, and those that boot (the
        running system, the default deployment, the fallback one that 'ash rollback' goes back to)."""
        found = {BASE: "the base snapshot"}
        previous = self.deployments.load(quiet=True).previous
        if previous:
            why = "the fallback deployment's snapshot (the boot menu and 'ash rollback' go back to it)"
            found[previous.snapshot] = why
        if (sid := self.deployed()) is not None:
            found[sid] = "deployed"
        if (sid := self.booted()) is not None:
            found[sid] = "booted"
        return found

    def space_hint(self, tree: Tree) -> str:
        """What to delete to free space: the topmost snapshots under which nothing boots."""
        protected = set(self.protected())
        free = [sid for sid in sorted(tree.snapshots) if not protected & set(tree.subtree(sid))]
        top = [sid for sid in free if tree[sid].parent not in free]
        if not top:
            return "every snapshot boots or is the base: free space outside the snapshot store, or grow the filesystem"
        shown = ", ".join(map(str, top[:8])) + (", ..." if len(top) > 8 else "")
        return f"delete snapshots you do not need with 'ash del' (these boot nothing: {shown}), then try again"

    def deploy_pending(self) -> bool:
        """Whether a deploy was interrupted before the bootloader was switched (see ``boot/deploy.py``)."""
        return self.deployments.load(quiet=True).pending

    def current(self) -> int | None:
        booted = self.booted()
        return booted if booted is not None else self.deployed()
