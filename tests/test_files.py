"""Paths inside a snapshot are resolved as the snapshot sees them, never on the host."""

from __future__ import annotations

import errno
import os

import pytest

from ashcore.fs.files import in_root


def test_in_root_keeps_links_inside_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "usr/lib").mkdir(parents=True)
    os.symlink("/usr/lib/os-release", root / "etc/os-release")  # absolute: means the root's /usr
    os.symlink("../../../../../../etc/passwd", root / "usr/lib/up")  # climbs past the root
    os.symlink("/etc", root / "usr/lib/etc")
    os.symlink("loop-b", root / "loop-a")
    os.symlink("loop-a", root / "loop-b")
    assert in_root(root, "etc/os-release") == root / "usr/lib/os-release"
    assert in_root(root, "/usr/lib/up") == root / "etc/passwd"
    assert in_root(root, "usr/lib/etc/hostname") == root / "etc/hostname"
    assert in_root(root, "../../etc/shadow") == root / "etc/shadow"
    assert in_root(root, "etc/not/yet") == root / "etc/not/yet"
    with pytest.raises(OSError) as raised:
        in_root(root, "loop-a")
    assert raised.value.errno == errno.ELOOP
