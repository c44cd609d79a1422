"""Snapshots changed behind ash's back: an immutable snapshot made writable is noticed by the next
changing command and made read-only again, and ``ash check`` reports one whose files changed since
ash committed it; what ash itself does is never reported. Real btrfs, the real CLI."""

from __future__ import annotations

import signal
import subprocess

import pytest

from ashcore.fs import btrfs


def set_ro(path, value: bool) -> None:
    subprocess.run(["btrfs", "property", "set", "-ts", path, "ro", "true" if value else "false"], check=True)


@pytest.fixture
def used(store):
    """A store that ash has worked on in every way that makes or changes snapshots."""
    store("clone", "0")  # 1: a copy
    store("run", "1", "sh", "-c", "echo changed > /file")  # 1: a committed transaction
    store("branch", "1")  # 2: a copy of a changed snapshot
    store("mutable", "2")
    store("run", "2", "sh", "-c", "echo mutable > /file")  # 2: changed while mutable
    store("immutable", "2")  # 2: immutable again, as it is now
    store("clone-tree", "1")  # 3, 4: copies of both
    return store


def test_what_ash_does_is_never_reported(used):
    assert used("check").stdout == "ok: 5 snapshots, nothing to repair\n"


def test_an_immutable_snapshot_made_writable_is_put_back_by_the_next_command(used):
    set_ro(used.snapshot(1), False)
    out = used("clone", "0")
    assert "ash: set snapshot 1 read-only, though it is immutable (changed outside ash?)" in out.stderr
    assert btrfs.is_readonly(used.snapshot(1))


@pytest.mark.parametrize("sid", [0, 1, 2, 3])
def test_check_reports_a_snapshot_whose_files_changed_behind_ashs_back(used, sid):
    set_ro(used.snapshot(sid), False)
    (used.snapshot(sid) / "planted").write_text("not ash's\n")
    set_ro(used.snapshot(sid), True)
    report = used("check").stdout
    assert f"snapshot {sid} has changed since ash committed it (outside ash)" in report
    assert report.count("has changed since ash committed it") == 1, report


def test_a_commit_cut_short_after_its_record_is_not_reported(used):
    killed = used("run", "1", "sh", "-c", "echo again > /file", env={"ASH_FAILPOINT": "tx:recorded"}, check=False)
    assert killed.returncode == -signal.SIGKILL
    report = used("check").stdout
    assert "has changed since" not in report and "removed the working copy of snapshot 1" in report
    assert (used.snapshot(1) / "file").read_text() == "changed\n", "the snapshot stayed as it was"
    assert used("check").stdout == "ok: 5 snapshots, nothing to repair\n"
