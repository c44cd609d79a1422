"""Digests of whole trees, to prove that a failed change left a snapshot bit-identical."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def digest(root: Path) -> dict[str, str]:
    """Every path below ``root`` with its type, mode and (for files) content hash: equal digests
    mean bit-identical trees."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            rel = os.fspath(path.relative_to(root))
            if path.is_symlink():
                out[rel] = f"link {os.readlink(path)}"
            elif path.is_file():
                out[rel] = f"file {st.st_mode:o} {st.st_uid}:{st.st_gid} {hashlib.sha256(path.read_bytes()).hexdigest()}"
            else:
                out[rel] = f"dir {st.st_mode:o} {st.st_uid}:{st.st_gid}"
    return out
