"""Digests of whole trees and snapshots, to prove that a failed change left them bit-identical."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

from ashcore.fs import btrfs

from .cli import Ash


def digest(root: Path, *, times: bool = False) -> dict[str, str]:
    """Every path below ``root`` with its type and mode, owner and content (a file's sha256, a link's
    target), and with ``times`` its modification and change times: equal digests mean identical trees."""
    out = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(top, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    content = hashlib.file_digest(f, "sha256").hexdigest()
            else:
                content = os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
            entry = f"{st.st_mode:o} {st.st_uid}:{st.st_gid} {content}"
            out[os.path.relpath(path, root)] = f"{entry} {st.st_mtime_ns} {st.st_ctime_ns}" if times else entry
    return out


def fingerprint(snapshot: Path) -> dict:
    """Everything that makes a snapshot what it is: its digest with times, and its subvolume's UUID
    and read-only flag."""
    show = subprocess.run(["btrfs", "subvolume", "show", snapshot], check=True, capture_output=True, text=True).stdout
    uuid = next(line.split()[1] for line in show.splitlines() if line.strip().startswith("UUID:"))
    return {"entries": digest(snapshot, times=True), "uuid": uuid, "readonly": btrfs.is_readonly(snapshot)}


def populate(store: Ash, count: int) -> None:
    """Give ``store`` ``count`` more snapshots of its base, in chains and branches (every third one a
    tree of its own), each described "snapshot number N": the tree file written with ash's own code,
    the snapshots made with the btrfs ioctl, for speed."""
    from ashcore.store.store import Store
    from ashcore.store.tree import Snapshot

    tree = Store(store.sysroot).read_tree()[0]
    for sid in range(1, count + 1):
        parent = sid - 1 if sid % 3 else None
        btrfs.snapshot(store.snapshot(0), store.snapshot(sid), readonly=True)
        transid = btrfs.content_transid(store.snapshot(sid))
        tree.add(Snapshot(id=sid, parent=parent, description=f"snapshot number {sid}", transid=transid))
    tree.next_id = count + 1
    Store(store.sysroot).save(tree)
