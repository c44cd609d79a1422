"""The ``/etc/fstab`` lines ash owns, for a snapshot and for a deployment (docs/layout.md).

ash owns the lines for the mount points it writes (``/``, ``/etc``, ``/.snapshots``, ``/home``,
``/var``, ``/tmp`` and the package database paths); :func:`merge` replaces exactly those and keeps
every other line of the file as the user wrote it. Nothing is ever edited by text substitution.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from . import btrfs
from .files import in_root

HEADER = "# The lines up to the blank line are written by ash; edit the others freely."
RUNTIME_STORE = "/.snapshots"
SHARED = ("home", "var")  # top-level subvolumes shared by every snapshot, when the system has them
TMP = "tmpfs /tmp tmpfs nosuid,nodev,mode=1777 0 0"


@attrs.frozen
class Layout:
    """Where the subvolumes of a system are, relative to the top of its btrfs filesystem."""

    uuid: str
    store: str  # e.g. "@.snapshots"
    shared: tuple[tuple[str, str], ...]  # ("/home", "@home"), ("/var", "@var")

    @classmethod
    def of(cls, sysroot: Path, store: Path) -> Layout:
        shared = tuple(
            (f"/{name}", btrfs.subvolume_path(sysroot / name)) for name in SHARED if btrfs.is_subvolume(sysroot / name)
        )
        return cls(uuid=btrfs.fs_uuid(store), store=btrfs.subvolume_path(store), shared=shared)

    def subvolume(self, rel: str) -> str:
        """The subvolume path of ``rel`` (a path inside the store) for ``subvol=``."""
        return f"{self.store}/{rel}"

    def _btrfs(self, point: str, subvol: str | None, *options: str) -> str:
        opts = ",".join([*([f"subvol={subvol}"] if subvol is not None else []), *options, "noatime"])
        return f"UUID={self.uuid} {point} btrfs {opts} 0 0"

    def _common(self) -> list[str]:
        return [
            self._btrfs(RUNTIME_STORE, self.store),
            *(self._btrfs(point, subvol) for point, subvol in self.shared),
            TMP,
        ]

    def snapshot_lines(self) -> list[str]:
        """For a snapshot booted as it is (read-only, from the bootloader's snapshot menu)."""
        return [self._btrfs("/", None, "ro"), *self._common()]

    def deployment_lines(self, rel: str, *, writable: bool, state_paths: tuple[str, ...]) -> list[str]:
        """For the deployment at ``rel`` (inside the store): its root, its own ``/etc`` writable and its
        own package database (``state_paths``, under ``/var``) read-only over the shared ``/var``."""
        own = f"{RUNTIME_STORE}/{rel}"
        binds = [f"{own}/etc /etc none bind 0 0"]
        if any(point == "/var" for point, _ in self.shared):
            binds += [f"{own}/{p} /{p} none bind,ro 0 0" for p in state_paths]
        return [self._btrfs("/", self.subvolume(rel), "rw" if writable else "ro"), *self._common(), *binds]


def mount_point(line: str) -> str | None:
    fields = line.split()
    return fields[1] if len(fields) >= 2 and not fields[0].startswith("#") else None


def user_lines(text: str, owned: list[str]) -> list[str]:
    """The lines of ``text`` that ash does not own (by mount point), without ash's header."""
    points = {mount_point(line) for line in owned}
    lines = [line for line in text.splitlines() if line != HEADER and mount_point(line) not in points]
    while lines and not lines[0].strip():
        lines.pop(0)
    return lines


def merge(text: str, owned: list[str]) -> str:
    """``text`` with ash's lines replaced by ``owned``; the user's lines follow unchanged."""
    rest = user_lines(text, owned)
    return "\n".join([HEADER, *owned, "", *rest]).rstrip("\n") + "\n"


def read(root: Path) -> str:
    """The ``/etc/fstab`` of ``root`` as the system there reads it (its links lead within ``root``)."""
    try:
        return in_root(root, "etc/fstab").read_text()
    except FileNotFoundError:
        return ""
