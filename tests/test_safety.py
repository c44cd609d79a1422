"""Crash safety, locking, namespaces and refusals, against real btrfs with real SIGKILLs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from ash_testing.mounts import chrooted, mounts_under
from ash_testing.snapshots import digest

from ashcore.fs import btrfs


def processes_inside(root: os.stat_result) -> list[int]:
    """PIDs whose root directory is the directory ``root`` (by device and inode: in its own mount
    namespace, a sandboxed command's root has no path the host could compare)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                st = os.stat(f"/proc/{entry}/root")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (root.st_dev, root.st_ino):
                pids.append(int(entry))
    return pids


def rootfs_entries(store) -> list[str]:
    return sorted(p.name for p in (store.store / "rootfs").iterdir())


TX_POINTS = ["tx:working-copy", "tx:before-commit", "tx:readonly", "tx:synced", "tx:exchanged", "tx:cleaned"]


@pytest.mark.parametrize("point", TX_POINTS)
def test_sigkill_at_every_step_of_a_commit(store, point):
    store("clone", "0")
    store("run", "1", "sh", "-c", "echo old > /state")
    store("clone", "0")
    before = digest(store.snapshot(1))
    others = {sid: digest(store.snapshot(sid)) for sid in (0, 2)}

    killed = store("run", "1", "sh", "-c", "echo new > /state", env={"ASH_FAILPOINT": point}, check=False)
    assert killed.returncode == -signal.SIGKILL

    assert not mounts_under(store.sysroot), "a mount leaked into the host"
    committed = TX_POINTS.index(point) >= TX_POINTS.index("tx:exchanged")
    state = (store.snapshot(1) / "state").read_text()
    assert state == ("new\n" if committed else "old\n")
    if not committed:
        assert digest(store.snapshot(1)) == before, "the snapshot changed although the commit never happened"
    assert {sid: digest(store.snapshot(sid)) for sid in (0, 2)} == others
    assert all(btrfs.is_readonly(store.snapshot(sid)) for sid in (0, 1, 2))

    after = store("tree")  # the next run repairs first
    assert after.stdout.count("\n") == 4
    store("tmp")
    assert rootfs_entries(store) == ["snapshot-0", "snapshot-1", "snapshot-2"]
    assert "nothing to repair" in store("check").stdout
    store("run", "1", "true")  # the snapshot is usable again


@pytest.mark.parametrize("point, survivors", [("copy:saved", {0, 1}), ("write:tree.json", {0, 1})])
def test_sigkill_while_cloning(store, point, survivors):
    store("clone", "0")
    killed = store("clone", "1", env={"ASH_FAILPOINT": point}, check=False)
    assert killed.returncode == -signal.SIGKILL
    notes = store("check").stdout
    assert store.ids() == survivors, notes
    assert rootfs_entries(store) == [f"snapshot-{i}" for i in sorted(survivors)]
    assert not [p for p in (store.store / "ash").iterdir() if p.name.startswith(".")], "temporary file left"
    assert store("clone", "1").stdout.strip() not in {str(i) for i in survivors}


@pytest.mark.parametrize("point", ["delete:marked", "delete:aside", "delete:saved"])
def test_sigkill_while_deleting_ends_as_a_completed_deletion(store, point):
    store("clone", "0")
    store("branch", "1")
    store("branch", "2")
    store("clone", "0")
    killed = store("del", "-y", "1", env={"ASH_FAILPOINT": point}, check=False)
    assert killed.returncode == -signal.SIGKILL
    store("clone", "0")  # any later changing run finishes the deletion first
    assert store.ids() == {0, 4, 5}
    assert rootfs_entries(store) == ["snapshot-0", "snapshot-4", "snapshot-5"]
    assert all(btrfs.is_readonly(store.snapshot(sid)) for sid in (0, 4, 5))
    assert store.tree_json()["tree"][1]["children"] == [], "4 kept its place"


def test_sigkill_while_toggling_mutability(store):
    store("clone", "0")
    killed = store("mutable", "1", env={"ASH_FAILPOINT": "mutable:saved"}, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert "writable" in store("check").stdout
    assert not btrfs.is_readonly(store.snapshot(1))


def start_a_long_command(store, seconds: int = 600) -> tuple[subprocess.Popen, os.stat_result]:
    """``ash run 1`` of a command that sleeps ``seconds``, once it runs (so ash holds the store's
    lock); and the root of its working copy."""
    proc = store.popen("run", "1", "sh", "-c", f"touch /started; sleep {seconds}", stdout=subprocess.DEVNULL)
    work = store.store / "rootfs/.work-1"
    deadline = time.monotonic() + 30
    while not (work / "started").exists():
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    work_root = os.stat(work)
    assert processes_inside(work_root), "expected the command to run chrooted in the working copy"
    return proc, work_root


def test_kill_9_during_a_running_command_leaves_nothing_behind(store):
    store("clone", "0")
    before = digest(store.snapshot(1))
    proc, work_root = start_a_long_command(store)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while processes_inside(work_root):
        assert time.monotonic() < deadline, f"processes survived ash: {processes_inside(work_root)}"
        time.sleep(0.05)
    assert not mounts_under(store.sysroot)
    assert digest(store.snapshot(1)) == before
    out = store("tmp")
    assert "removed the working copy of snapshot 1" in out.stderr
    assert rootfs_entries(store) == ["snapshot-0", "snapshot-1"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_unwinds_like_ctrl_c(store, sig):
    store("clone", "0")
    before = digest(store.snapshot(1))
    proc, work_root = start_a_long_command(store)
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == 128 + sig
    assert not processes_inside(work_root)
    assert not mounts_under(store.sysroot)
    assert rootfs_entries(store) == ["snapshot-0", "snapshot-1"], "the working copy was dropped at once"
    assert digest(store.snapshot(1)) == before


def test_namespace_has_api_filesystems_and_nothing_leaks(store):
    store("clone", "0")
    out = store("run", "1", "sh", "-c", "cat /proc/self/mounts; ls /dev/null; echo pid=$$", check=True)
    mounts = out.stdout
    for point in (" /proc ", " /sys ", " /dev ", " /run ", " /tmp "):
        assert point in mounts, point
    assert "pid=2" in out.stdout or "pid=3" in out.stdout, "the command should run in its own PID namespace"
    assert not mounts_under(store.sysroot)
    assert not (store.snapshot(1) / "run").exists() or not any((store.snapshot(1) / "run").iterdir())


def test_second_ash_is_locked_out(store):
    store("clone", "0")
    holder, _ = start_a_long_command(store, seconds=3)
    started = time.monotonic()
    second = store("clone", "0", check=False)
    assert time.monotonic() - started < 2, "the second ash must fail at once, not wait"
    assert second.returncode == 75
    line = second.stderr.splitlines()[0]
    assert line.startswith("ash: error: the snapshot store is in use by another ash")
    assert f"pid {holder.pid}" in line and "run 1 sh" in line
    assert holder.wait() == 0
    assert store("clone", "0").stdout.strip() == "2"


def test_reading_does_not_need_the_lock(store):
    store("clone", "0")
    holder, _ = start_a_long_command(store, seconds=3)
    assert store("tree").stdout.startswith("root - root")
    assert holder.poll() is None, "the lock was not held all the while"
    assert holder.wait() == 0


def test_shell_metacharacters_reach_commands_verbatim(store):
    store("clone", "0")
    nasty = ["a;touch /pwned", "$(touch /pwned2)", "`id`", "x && y", "'q'\"", "*", "\\n"]
    store("run", "1", "touch", *[f"/f{i}{n.replace('/', '_')}" for i, n in enumerate(nasty)])
    names = {p.name for p in store.snapshot(1).iterdir()}
    for i, n in enumerate(nasty):
        assert f"f{i}{n.replace('/', '_')}" in names
    assert "pwned" not in names and "pwned2" not in names
    desc = "it's $(rm -rf /); `reboot` | & > <"
    store("desc", "1", desc)
    assert store.tree_json()["tree"][1]["description"] == desc
    assert desc in store("tree").stdout


def test_refuses_without_root(store):
    out = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *store.argv("clone", "0")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 77
    assert out.stderr.splitlines()[0] == "ash: error: this command changes the system and needs root"


def test_refuses_inside_a_chroot_unless_told(store, tmp_path):
    store("clone", "0")
    newroot = tmp_path / "newroot"
    newroot.mkdir()

    def in_chroot(*args):
        return subprocess.run(chrooted(newroot, store.argv(*args)), capture_output=True, text=True)

    refused = in_chroot("clone", "0")
    assert refused.returncode == 1, refused.stderr
    assert (
        refused.stderr.splitlines()[0] == "ash: error: ash is running inside a chroot, where it could damage the system"
    )
    assert store.ids() == {0, 1}
    allowed = in_chroot("--chroot", "clone", "0")
    assert allowed.returncode == 0, allowed.stderr
    assert store.ids() == {0, 1, 2}


def test_check_repairs_a_damaged_tree(store):
    store("clone", "0")
    store("branch", "1")
    tree_file = store.store / "ash/tree.json"
    data = json.loads(tree_file.read_text())
    data["snapshots"] = [s for s in data["snapshots"] if s["id"] != 2]  # forget 2
    data["snapshots"].append({"id": 9, "parent": 1, "description": "ghost", "mutable": False})  # invent 9
    tree_file.write_text(json.dumps(data))
    btrfs.set_readonly(store.snapshot(1), False)
    out = store("check").stdout
    assert "forgot snapshot 9" in out
    assert "adopted snapshot 2" in out
    assert "set snapshot 1 read-only" in out
    assert store.ids() == {0, 1, 2}
    assert btrfs.is_readonly(store.snapshot(1))
    assert store("clone", "0").stdout.strip() == "10", "numbers once in the tree are never reused"
    (store.store / "ash/tree.json.prev").unlink()  # nothing to fall back on: rebuilt from the disk
    tree_file.write_text("{ torn")
    assert "rebuilt the tree file" in store("check").stdout
    assert store.ids() == {0, 1, 2, 10}
    [kept] = (store.store / "ash").glob("tree.json.broken-*")
    assert kept.read_text() == "{ torn"
    assert store.tree_json()["distro"] == "testos", "the distro is read again from snapshot 0"


def test_a_tree_file_from_a_newer_ash_is_refused_not_rebuilt(store):
    store("clone", "0")
    store("desc", "1", "mine")
    tree_file = store.store / "ash/tree.json"
    data = json.loads(tree_file.read_text())
    data["version"] += 1
    tree_file.write_text(json.dumps(data))
    before = tree_file.read_bytes()
    for args in (("tree",), ("clone", "1"), ("check",)):
        out = store(*args, check=False)
        assert out.returncode == 1, args
        assert "was written by a newer ash" in out.stderr.splitlines()[0], out.stderr
    assert tree_file.read_bytes() == before
    assert sorted(p.name for p in (store.store / "rootfs").iterdir()) == ["snapshot-0", "snapshot-1"]


def test_the_sandbox_keeps_the_host_out(store):
    store("clone", "0")
    hostname = socket.gethostname()
    script = (
        "ls -A /proc/1/root; "  # PID 1 of the namespace: shut in an empty directory, not the host's /
        "busybox hostname ash-sandbox-test || echo hostname-refused; "  # no CAP_SYS_ADMIN (test_sandbox_escapes.py)
        "echo probe > /dev/shm/ash-sandbox-probe && echo shm-ok; "  # a private /dev/shm
        "echo x > /proc/sys/kernel/domainname || echo proc-sys-read-only; "
        "touch /sys/probe || echo sys-read-only"
    )
    out = store("run", "1", "sh", "-c", script)
    assert out.stdout.split() == ["hostname-refused", "shm-ok", "proc-sys-read-only", "sys-read-only"]
    assert socket.gethostname() == hostname
    assert not Path("/dev/shm/ash-sandbox-probe").exists()
