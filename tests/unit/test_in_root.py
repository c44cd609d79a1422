"""in_root: a path as a process chrooted at the root sees it, on a directory tree in tmp_path."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from ashcore.fs.files import in_root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A small root with the links a real one has: /lib -> usr/lib, /etc/os-release ->
    ../usr/lib/os-release, an absolute alternatives link, a link climbing above /, and a loop."""
    root = tmp_path / "root"
    for d in ("etc/alternatives", "usr/lib", "usr/bin", "var"):
        (root / d).mkdir(parents=True)
    (root / "usr/lib/os-release").write_text("ID=debian\n")
    (root / "usr/bin/vim.basic").write_text("")
    (root / "lib").symlink_to("usr/lib")
    (root / "etc/os-release").symlink_to("../usr/lib/os-release")
    (root / "etc/alternatives/editor").symlink_to("/usr/bin/vim.basic")
    (root / "usr/bin/editor").symlink_to("/etc/alternatives/editor")
    (root / "var/escape").symlink_to("../../../../../usr/lib")
    (root / "etc/loop-a").symlink_to("loop-b")
    (root / "etc/loop-b").symlink_to("loop-a")
    return root


@pytest.mark.parametrize(
    "path, seen",
    [
        ("etc/os-release", "usr/lib/os-release"),
        ("/etc/os-release", "usr/lib/os-release"),
        ("lib/os-release", "usr/lib/os-release"),
        ("usr/bin/editor", "usr/bin/vim.basic"),
        ("var/escape/os-release", "usr/lib/os-release"),
        ("../../../etc/os-release", "usr/lib/os-release"),
        ("etc/./alternatives/../os-release", "usr/lib/os-release"),
        ("lib/..", "usr"),
        ("no/such/file", "no/such/file"),
        ("lib/no-such-file", "usr/lib/no-such-file"),
        ("/", ""),
    ],
    ids=[
        "relative-link",
        "absolute-path",
        "linked-directory",
        "absolute-links-in-a-chain",
        "link-climbing-above-root",
        "dotdot-above-root",
        "dot-and-dotdot",
        "dotdot-after-a-link-leaves-its-target",
        "missing",
        "missing-under-a-link",
        "the-root",
    ],
)
def test_in_root_follows_links_within_the_root(root, path, seen):
    assert in_root(root, path) == root / seen


def test_in_root_never_leads_to_the_host_file_a_link_names(root):
    assert in_root(root, "etc/alternatives/editor") != Path("/usr/bin/vim.basic")
    assert in_root(root, "etc/alternatives/editor").is_relative_to(root)


def test_a_link_loop_is_an_error_not_a_hang(root):
    with pytest.raises(OSError) as looped:
        in_root(root, "etc/loop-a/x")
    assert looped.value.errno == errno.ELOOP
