"""A full filesystem must still be fixable with ash: on a small real btrfs, filled to the last byte,
``del`` and ``tmp`` work, every other change is refused up front naming what to delete, the space
of a thrown-away working copy is free again when ash exits, and the installer checks for room."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ash_testing.campaign import leftovers, losses, state
from ash_testing.cli import ASH, Ash
from ash_testing.snapshots import digest

from ashcore.fs.files import free_bytes

MiB = 1 << 20


@pytest.fixture
def small(root_tools, tmp_path) -> Iterator[Path]:
    """A system root on a btrfs of its own, 320 MiB, so that filling it is quick."""
    root_tools("mkfs.btrfs")
    image, mnt = tmp_path / "small.img", tmp_path / "mnt"
    with open(image, "wb") as f:
        f.truncate(320 * MiB)
    subprocess.run(["mkfs.btrfs", "-q", "-f", image], check=True, capture_output=True)
    mnt.mkdir()
    subprocess.run(["mount", "-o", "loop", image, mnt], check=True)
    try:
        subprocess.run(["btrfs", "subvolume", "create", mnt / "sysroot"], check=True, capture_output=True)
        yield mnt / "sysroot"
    finally:
        subprocess.run(["umount", mnt], check=True)


def fill(path: Path) -> None:
    """Take all the room the filesystem has left: most of it reserved at once, the rest written."""
    subprocess.run(["sync", "-f", path.parent], check=True)
    with open(path, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, max(free_bytes(path.parent) - 8 * MiB, MiB))
        f.seek(0, os.SEEK_END)
        try:
            while True:
                f.write(os.urandom(MiB))
                f.flush()
        except OSError as exc:
            assert exc.errno == 28, exc
    subprocess.run(["sync", "-f", path.parent], check=True)
    assert free_bytes(path.parent) < 4 * MiB


@pytest.fixture
def full(small, busybox_root) -> Ash:
    """0, then 1 with 100 MiB of its own, then 2 (a clone of 0, which frees nothing when deleted);
    then the rest of the filesystem filled outside the store."""
    ash = Ash(small)
    ash("init", "--from", busybox_root)
    ash("clone", "0", "--desc", "the big one")
    ash("run", "1", "sh", "-c", "head -c 104857600 /dev/urandom > /big")
    ash("clone", "0", "--desc", "kept")
    fill(small / "filler")
    return ash


def test_a_full_filesystem_is_fixable_with_ash(full):
    """Changes are refused up front, naming what to delete, and change nothing; ``tmp`` works;
    deleting 2 (which frees nothing) says so and loses nothing else; deleting 1 frees the space,
    records both deletions and keeps the rest of the tree as it was."""
    big = digest(full.snapshot(1))
    base = digest(full.snapshot(0))
    hint = "hint: delete snapshots you do not need with 'ash del' (these boot nothing: 1, 2), then try again"
    for args in (("run", "1", "true"), ("install", "1", "pkg")):  # transactions: checked before they start
        assert full.fail(*args, status=1) == (
            f"ash: error: only 0 MiB are free on the filesystem of {full.store} (a change needs 128 MiB)"
        )
        assert full(*args, check=False).stderr.endswith(hint + "\n")
    for args in (("clone", "0"), ("desc", "1", "new")):  # a few bytes each, refused when they fail
        assert full.fail(*args, status=1) == f"ash: error: the filesystem of {full.store} is full"
        assert full(*args, check=False).stderr.endswith(hint + "\n")
    assert full.ids() == {0, 1, 2} and digest(full.snapshot(1)) == big

    assert full("tmp", check=False).returncode == 0

    err = full.fail("del", "--yes", "2")
    assert err == "ash: error: deleted snapshot(s) 2, but that freed too little space to record it"
    assert not full.snapshot(2).exists() and digest(full.snapshot(1)) == big

    free = free_bytes(full.store)
    out = full("del", "--yes", "1")
    assert "forgot snapshot 2: its subvolume is gone" in out.stderr, out.stderr
    assert free_bytes(full.store) - free > 90 * MiB, "del returns once the space is free"
    assert not list((full.store / "ash").glob(".*tmp*")), "no half-written tree file is left"
    assert full.ids() == {0} and digest(full.snapshot(0)) == base
    assert full("check").stdout.endswith("ok: 1 snapshots, nothing to repair\n")
    assert full("clone", "0", "--desc", "after").stdout.strip() == "3"


#: What a user tries on a full filesystem (``{s}``: a snapshot); each works or is refused in one line.
COMMANDS = [
    ("tmp",), ("check",), ("tree",), ("list", "{s}"), ("clone", "{s}"), ("branch", "{s}"), ("run", "{s}", "true"),
    ("desc", "{s}", "x"), ("install", "{s}", "pkg"), ("mutable", "{s}"), ("unlock", "{s}"), ("deploy", "{s}"),
]  # fmt: skip


def test_campaign_no_byte_free(full, campaign):
    """Random commands on a full filesystem: each works or is refused in one line, and nothing is
    lost; then deleting the big snapshot frees the space and the store is clean."""
    run = campaign("full filesystem: commands with no byte free")
    for case in run.each(12):
        argv = [a.format(s=run.rng.choice([1, 2])) for a in run.rng.choice(COMMANDS)]
        case.tried = "ash " + " ".join(argv)
        before = state(full)
        proc = full(*argv, check=False)
        problems = losses(before, state(full))
        errors = [line for line in proc.stderr.splitlines() if line.startswith("ash: error:")]
        if proc.returncode != 0 and (len(errors) != 1 or "Traceback" in proc.stderr):
            problems.append(f"not a one-line refusal: {proc.stderr[-300:]!r}")
        case.lost_nothing(problems)
        case.ended("worked" if proc.returncode == 0 else "refused")
    for case in run.each(1):
        case.tried = "ash del 1 (the snapshot that holds the space)"
        before = state(full)
        full("del", "--yes", "1")
        case.lost_nothing(losses(before, state(full), gone={1}) + leftovers(full))
        case.ended("worked")


def test_crash_leftovers_are_removed_on_a_full_filesystem(small, busybox_root):
    """A working copy left by a killed ash (with what its command wrote) is cleaned by ``tmp`` on a
    full filesystem, and its space is free when ``tmp`` returns."""
    ash = Ash(small)
    ash("init", "--from", busybox_root)
    ash("clone", "0")
    write = "head -c 104857600 /dev/urandom > /big"
    killed = ash("run", "1", "sh", "-c", write, env={"ASH_FAILPOINT": "tx:before-commit"}, check=False)
    assert killed.returncode == -signal.SIGKILL
    leftovers = [p.name for p in (ash.store / "rootfs").iterdir() if p.name.startswith(".")]
    assert leftovers == [".work-1"], leftovers
    fill(small / "filler")
    free_before = free_bytes(ash.store)
    out = ash("tmp")
    assert "removed the working copy of snapshot 1 left by an interrupted ash" in out.stderr
    assert free_bytes(ash.store) - free_before > 90 * MiB
    assert not (ash.snapshot(1) / "big").exists()


def test_a_thrown_away_working_copy_is_free_again_when_ash_exits(small, busybox_root):
    """A command that wrote 150 MiB and failed: its working copy is deleted, and the next command can
    write as much again at once (btrfs frees a deleted subvolume's space in the background)."""
    ash = Ash(small)
    ash("init", "--from", busybox_root)
    ash("clone", "0")
    write = "head -c 157286400 /dev/urandom > /big"
    assert ash("run", "1", "sh", "-c", f"{write}; exit 3", check=False).returncode == 3
    ash("run", "1", "sh", "-c", write)
    assert (ash.snapshot(1) / "big").stat().st_size == 150 * MiB


def test_the_installer_checks_for_room_before_it_starts(root_tools, tmp_path):
    root_tools("mkfs.ext4")
    image, mnt = tmp_path / "tiny.img", tmp_path / "tiny"
    with open(image, "wb") as f:
        f.truncate(64 * MiB)
    subprocess.run(["mkfs.ext4", "-q", image], check=True)
    mnt.mkdir()
    subprocess.run(["mount", "-o", "loop", image, mnt], check=True)
    try:
        proc = subprocess.run(
            [*ASH, "setup", "--image", mnt / "disk.img", "--size", "4G", "--from", tmp_path, "--yes"],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 1, proc.stderr
        expected = (
            rf"ash: error: only \d+ MiB are free in {re.escape(str(mnt))}, too little for a system \(at least 2.0 GiB\)"
        )
        assert re.fullmatch(expected + "\nhint: free space there or put the image elsewhere\n", proc.stderr), (
            proc.stderr
        )
        assert not (mnt / "disk.img").exists()
    finally:
        subprocess.run(["umount", mnt], check=True)
