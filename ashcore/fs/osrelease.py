"""Read ``/etc/os-release`` of a root filesystem (the distro a snapshot runs)."""

from __future__ import annotations

import shlex
from pathlib import Path

from .files import in_root


def read(root: Path) -> dict[str, str]:
    """The fields of the root's os-release, found as the root itself finds it: its links (like the
    usual ``/etc/os-release -> ../usr/lib/os-release``, absolute ones too) lead within ``root``."""
    for rel in ("etc/os-release", "usr/lib/os-release"):
        try:
            text = in_root(root, rel).read_text(encoding="utf-8", errors="replace")
        except OSError:  # missing, not a file, a link loop, unreadable
            continue
        fields = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() and not key.startswith("#"):
                try:
                    words = shlex.split(value, comments=True)
                except ValueError:
                    words = [value.strip("'\"")]
                fields[key.strip()] = " ".join(words)
        return fields
    return {}


def distro_id(root: Path) -> str | None:
    """The root's os-release ``ID``, if it has one."""
    return next(iter(distro_ids(root)), None)


def distro_ids(root: Path) -> list[str]:
    """``ID`` followed by the ``ID_LIKE`` entries: the names a plugin can claim this root by."""
    fields = read(root)
    ids = [fields["ID"]] if fields.get("ID") else []
    return ids + [i for i in fields.get("ID_LIKE", "").split() if i not in ids]
