"""Read ``/etc/os-release`` of a root filesystem (the distro a snapshot runs)."""

from __future__ import annotations

import shlex
from pathlib import Path


def read(root: Path) -> dict[str, str]:
    for rel in ("etc/os-release", "usr/lib/os-release"):
        try:
            text = (root / rel).read_text(encoding="utf-8", errors="replace")
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        except OSError:
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


def distro_ids(root: Path) -> list[str]:
    """``ID`` followed by the ``ID_LIKE`` entries: the names a plugin can claim this root by."""
    fields = read(root)
    ids = [fields["ID"]] if fields.get("ID") else []
    return ids + [i for i in fields.get("ID_LIKE", "").split() if i not in ids]
