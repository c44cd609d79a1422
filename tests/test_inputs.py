"""Input that gave tracebacks or surprising results: each gets one error line that says what to do
(or works), through the real CLI on real stores."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from ash_testing.cli import ASH, run_bytes
from ash_testing.mounts import chrooted

CONTROL = "\x1b]0;pwned\x07\x1b[2Jclear"


def one_error(proc, code: int = 1) -> str:
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ash: error:")]
    assert proc.returncode == code and len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return errors[0]


def test_arguments_that_are_not_utf8_are_recorded_escaped_and_passed_verbatim(store):
    store("clone", "0")
    desc = run_bytes(store, b"desc", b"1", b"caf\xe9")
    assert desc.returncode == 0 and b"Traceback" not in desc.stderr, desc.stderr
    assert store.tree_json()["tree"][1]["description"] == "caf\\xe9"
    assert "1 - caf\\xe9" in store("tree").stdout
    ran = run_bytes(store, b"run", b"1", b"sh", b"-c", b'printf %s "$1" > /got', b"sh", b"\xe9\xff")
    assert ran.returncode == 0, ran.stderr
    assert (store.snapshot(1) / "got").read_bytes() == b"\xe9\xff", "the command got the exact bytes"


def test_terminal_control_sequences_are_stored_verbatim_and_printed_safely(store):
    store("clone", "0")
    store("desc", "1", CONTROL)
    assert store.tree_json()["tree"][1]["description"] == CONTROL
    shown = store("tree").stdout
    assert "\x1b" not in shown and "\x07" not in shown
    assert "1 - \\x1b]0;pwned\\x07\\x1b[2Jclear" in shown


@pytest.mark.parametrize("number", ["٢", "２", "-1", "1.0", "+1", " "])
def test_only_ascii_digits_are_snapshot_numbers(store, number):
    store("clone", "0")
    store("clone", "0")
    assert "is not a snapshot number" in one_error(store("clone", number, check=False), 2)
    assert store.ids() == {0, 1, 2}


@pytest.mark.parametrize("argv", [[""], []], ids=["empty-program", "no-program"])
def test_run_needs_a_command(store, argv):
    store("clone", "0")
    proc = store("run", "1", *argv, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert not list((store.store / "rootfs").glob(".*")), "no working copy was left"


def test_run_takes_the_arguments_the_kernel_takes(store):
    """Twelve arguments of 100,000 bytes each (1.2 MB): each is within the kernel's limit on one
    argument (128 KiB) and together within its limit on all, so the command gets them all."""
    store("clone", "0")
    args = [chr(ord("a") + i) * 100_000 for i in range(12)]
    script = 'n=0; for a; do n=$((n + ${#a})); done; echo "$# $n" > /got'
    proc = store("run", "1", "sh", "-c", script, "sh", *args, check=False)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert (store.snapshot(1) / "got").read_text() == "12 1200000\n"


def test_del_without_a_terminal_or_with_stdin_closed_asks_nobody(store):
    store("clone", "0")
    closed = subprocess.run(
        [*store.argv("del", "1")],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: os.close(0),
    )
    assert "refusing to delete without confirmation" in one_error(closed, 2)
    assert store.ids() == {0, 1}


def test_del_refuses_the_base_before_asking(store):
    proc = store("del", "0", check=False)
    assert "cannot delete snapshot 0: it is the base snapshot" in one_error(proc, 2)
    assert "Delete snapshot" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "wrapper, why",
    [
        (["setpriv", "--inh-caps=-sys_admin", "--bounding-set=-sys_admin"], "without the capability CAP_SYS_ADMIN"),
        (["unshare", "--user", "--map-root-user"], "root of a user namespace"),
    ],
    ids=["no-cap-sys-admin", "user-namespace"],
)
def test_root_without_its_powers_is_told_up_front(store, wrapper, why):
    proc = subprocess.run(
        [*wrapper, *store.argv("clone", "0")], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    assert why in one_error(proc, 77)
    assert store.ids() == {0} and not list((store.store / "rootfs").glob(".*"))


def test_the_chroot_guard_decides_without_pid_1s_root(store):
    """Without CAP_SYS_PTRACE /proc/1/root cannot be read; the mount table decides (not a chroot)."""
    proc = subprocess.run(
        ["setpriv", "--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace", *store.argv("clone", "0")],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0 and proc.stdout == "1\n", proc.stderr


def test_a_system_root_that_is_a_file_or_missing(store, tmp_path):
    (tmp_path / "file").write_text("")
    for root, what in ((tmp_path / "file", "is not a directory"), (tmp_path / "missing", "does not exist")):
        for args in (("tree",), ("init", "--from", str(tmp_path))):
            proc = subprocess.run(
                [*ASH, "--sysroot", root, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL
            )
            assert what in one_error(proc, 2)


def test_a_store_on_a_read_only_mount(store, tmp_path):
    view = tmp_path / "ro"
    view.mkdir()
    subprocess.run(["mount", "--bind", "-o", "ro", store.sysroot, view], check=True)
    try:
        proc = subprocess.run(
            [*ASH, "--sysroot", view, "clone", "0"], capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        assert "Read-only file system" in one_error(proc)
        assert "hint: the filesystem is mounted read-only: remount it read-write" in proc.stderr
    finally:
        subprocess.run(["umount", view], check=True)


def test_a_store_copied_onto_another_filesystem(store, tmp_path):
    copy = tmp_path / "tmpfs"
    copy.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", copy], check=True)
    try:
        subprocess.run(["cp", "-a", store.store, copy], check=True)
        proc = subprocess.run(
            [*ASH, "--sysroot", copy, "clone", "0"], capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        assert "is not on a btrfs filesystem" in one_error(proc)
        assert "hint: ash keeps its snapshots on a btrfs filesystem" in proc.stderr
        tree = json.loads((copy / ".snapshots/ash/tree.json").read_text())
        assert [s["id"] for s in tree["snapshots"]] == [0], "the failed clone left no entry"
    finally:
        subprocess.run(["umount", copy], check=True)


def test_a_chroot_of_a_chroot_fails_in_one_line_and_leaves_nothing(store, tmp_path):
    """``--chroot run`` from a chroot whose root is no mount point: the sandbox cannot be built."""
    store("clone", "0")
    newroot = tmp_path / "plain"
    newroot.mkdir()
    argv = chrooted(newroot, store.argv("--chroot", "run", "1", "true"), root_is_mount_point=False)
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 126 and "Traceback" not in proc.stderr, proc.stderr
    assert "ash: cannot prepare the chroot: mount /: Invalid argument (is ash itself in a chroot?)" in proc.stderr
    assert not list((store.store / "rootfs").glob(".*")), "no working copy was left"
