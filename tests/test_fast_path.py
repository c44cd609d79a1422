"""The fast path (``ashcore/cli/fast.py``) prints, byte for byte, what the full CLI prints: both are
run over the same stores, in every state the fast path handles and in states it must leave to the
full CLI (damaged files, errors, links, other options), and their stdout, stderr and exit status
compared. Each case also says which path it exercises, checked against :func:`fast.answer`, so the
test cannot pass by the fast path never answering."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ash_testing.snapshots import populate

from ashcore.cli import fast

LAUNCH = "import sys; from ashcore.cli.main import main; sys.argv[0] = 'ash'; main(fast={})"
LOOKS = [
    ["tree"],
    ["t"],
    ["tree", "--json"],
    ["t", "--json"],
    ["current"],
    ["c"],
    ["current", "--json"],
    ["c", "--json"],
]
#: Command lines the fast path leaves to the full CLI, whatever the store.
OTHERS = [
    ["tree", "--json", "--json"],
    ["tree", "-h"],
    ["tree", "extra"],
    ["current", "--help"],
    ["--chroot", "tree"],
    ["list", "0"],
    [],
]


def run(argv: list[str], *, full: bool, env: dict[str, str] | None = None) -> tuple[int, bytes, bytes]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ASH_")}
    proc = subprocess.run(
        [sys.executable, "-c", LAUNCH.format(not full), *argv],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env={**environ, **(env or {})},
    )
    return proc.returncode, proc.stdout, proc.stderr


def same(argv: list[str], *, fast_path: bool, env: dict[str, str] | None = None) -> bytes:
    """Run ``argv`` both ways, check they print the same and that the fast path answers exactly
    when ``fast_path``; return the stdout."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ASH_")}
    answered = fast.answer(argv, {**environ, **(env or {})})
    assert (answered is not None) == fast_path, (argv, answered)
    quick, full = run(argv, full=False, env=env), run(argv, full=True, env=env)
    assert quick == full, (argv, quick, full)
    if fast_path:
        assert full[1] == answered.encode() + b"\n"
    return full[1]


def write(sysroot: Path, rel: str, data: object) -> None:
    path = sysroot / ".snapshots" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())


def tree_file(snapshots: list[dict], **fields) -> dict:
    return {"format": "ash-tree", "version": 1, "distro": "testos", "next_id": 1, "snapshots": snapshots, **fields}


def snap(sid: int, parent: int | None, description: str = "", **fields) -> dict:
    return {
        "id": sid,
        "parent": parent,
        "description": description,
        "mutable": False,
        "created": "2024-05-01T12:00:00Z",
        "transid": 7,
        **fields,
    }


def deploy_file(sid: int | None, previous: int | None = None) -> dict:
    def dep(n: int | None) -> dict | None:
        return None if n is None else {"id": f"{n}-1", "snapshot": n}

    default = dep(sid)
    return {
        "format": "ash-deploy",
        "version": 1,
        "snapshot": sid,
        "default": default,
        "previous": dep(previous),
        "bootloader_pending": False,
    }


SOUND = [
    snap(0, None, "base snapshot"),
    snap(1, 0, "web server\nwith notes below"),
    snap(3, 0, "desktop \x1b[31mred\x1b[0m"),
    snap(2, 1, "nginx: ünïcödé ✓"),
    snap(4, 1, "", mutable=True, transid=None),
    snap(5, 2, "tls\tand tabs"),
    snap(7, 99, "parent gone: shown at the top"),
    snap(8, None, "x\u2028y"),
]

#: name: (tree file, deploy.json or None, booted marker or None, whether the fast path answers
#: ``tree``, and ``current``)
STATES = {
    "nothing deployed": (tree_file(SOUND), None, None, True, False),
    "deployed": (tree_file(SOUND), deploy_file(2, 1), None, True, True),
    "booted": (tree_file(SOUND), deploy_file(3), b"5\n", True, True),
    "booted, not in the tree": (tree_file(SOUND), None, b"42\n", True, False),
    "deployed, not in the tree": (tree_file(SOUND), deploy_file(42), None, True, False),
    "empty tree": (tree_file([]), None, None, True, False),
    "deploy.json of another shape": (
        tree_file(SOUND),
        {**deploy_file(2), "default": {"id": 3, "snapshot": "2"}},
        None,
        False,
        False,
    ),
    "deploy.json not JSON": (tree_file(SOUND), b"{", None, False, False),
    "deploy.json newer": (tree_file(SOUND), {**deploy_file(2), "version": 2}, None, False, False),
    "booted marker not a plain number": (tree_file(SOUND), None, b"+5\n", False, False),
    "booted marker not text": (tree_file(SOUND), None, b"\xff\n", False, False),
    "damaged entry": (tree_file([*SOUND, {"id": "x"}]), None, None, False, False),
    "parent loop": (tree_file([snap(0, None), snap(1, 2), snap(2, 1)]), None, None, False, False),
    "wrong types": (tree_file([snap(0, None), snap(1, 0, mutable="yes", transid=True)]), None, None, False, False),
    "newer format": (tree_file(SOUND, version=2), None, None, False, False),
    "not a tree file": ({"format": "other"}, None, None, False, False),
    "not JSON": (b"{oops", None, None, False, False),
}


def make(sysroot: Path, state: str) -> None:
    tree, deploy, booted, _, _ = STATES[state]
    sysroot.mkdir()
    write(sysroot, "ash/tree.json", tree)
    if deploy is not None:
        write(sysroot, "ash/deploy.json", deploy)
    if booted is not None:
        marker = sysroot / "usr/lib/ash/snapshot"
        marker.parent.mkdir(parents=True)
        marker.write_bytes(booted)


@pytest.mark.parametrize("state", STATES)
def test_both_paths_print_the_same_for_every_look_in_every_state(tmp_path, state):
    sysroot = tmp_path / "root"
    make(sysroot, state)
    _, _, _, tree_fast, current_fast = STATES[state]
    for look in LOOKS:
        answers = tree_fast if look[0] in ("tree", "t") else current_fast or (tree_fast and "--json" in look)
        same(["--sysroot", str(sysroot), *look], fast_path=answers)


def test_the_global_option_and_the_environment_name_the_store_alike(tmp_path, monkeypatch):
    sysroot = tmp_path / "root"
    make(sysroot, "deployed")
    link = tmp_path / "link"
    link.symlink_to(sysroot)
    monkeypatch.chdir(tmp_path)
    for where in (str(sysroot), str(link), "root", "./link/"):
        out = same(["--sysroot", where, "tree"], fast_path=True)
        assert same([f"--sysroot={where}", "tree"], fast_path=True) == out
        assert same(["tree"], fast_path=True, env={"ASH_SYSROOT": where}) == out
    assert b"2*- nginx" in out


def test_what_the_fast_path_does_not_handle_goes_to_the_full_cli(tmp_path):
    sysroot = tmp_path / "root"
    make(sysroot, "deployed")
    for argv in OTHERS:
        same(["--sysroot", str(sysroot), *argv], fast_path=False)
    for env in ({"ASH_DEBUG": "1"}, {"ASH_NO_THIRD_PARTY_PLUGINS": "1"}, {"ASH_SYSROOT": ""}):
        same(["tree"], fast_path=False, env=env)
    same(["--sysroot", "", "tree"], fast_path=False)
    same(["--sysroot"], fast_path=False)
    same(["--sysroot", str(tmp_path / "missing"), "tree"], fast_path=False)  # an error
    same(["--sysroot", str(tmp_path / "missing"), "current"], fast_path=False)
    (tmp_path / "file").write_text("")
    same(["--sysroot", str(tmp_path / "file"), "tree"], fast_path=False)


def test_a_link_on_the_way_to_the_booted_marker_is_left_to_the_full_cli(tmp_path):
    sysroot = tmp_path / "root"
    make(sysroot, "booted")
    (sysroot / "usr/lib/ash").rename(sysroot / "usr/lib/ash-real")
    (sysroot / "usr/lib/ash").symlink_to("/usr/lib/ash-real")  # absolute: within the root, not the host
    out = same(["--sysroot", str(sysroot), "tree"], fast_path=False)
    assert b"5*- " in out


def test_a_real_store_of_many_snapshots(store):
    """A store made by ash itself (clones, branches, descriptions, the tree file ash wrote)."""
    populate(store, 120)
    store("clone", "0", "--desc", "made by the CLI")
    store("branch", "3", "--desc", "a branch")
    store("mutable", "3")
    (store.store / "ash/deploy.json").write_text(json.dumps(deploy_file(3)))
    for look in LOOKS:
        same(["--sysroot", str(store.sysroot), *look], fast_path=True)


def test_a_chain_deeper_than_the_recursion_limit(tmp_path):
    """A chain of 3,000: drawn, and nested for --json (once a RecursionError traceback), by both paths."""
    sysroot = tmp_path / "root"
    sysroot.mkdir()
    write(sysroot, "ash/tree.json", tree_file([snap(0, None), *(snap(i, i - 1, f"link {i}") for i in range(1, 3000))]))
    out = same(["--sysroot", str(sysroot), "tree"], fast_path=True)
    assert out.endswith(b"2999 - link 2999\n")
    printed = same(["--sysroot", str(sysroot), "tree", "--json"], fast_path=True)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)  # for the test's own reading of it
    try:
        node = json.loads(printed)["tree"][0]
    finally:
        sys.setrecursionlimit(limit)
    for depth in range(1, 3000):
        (node,) = node["children"]
        assert node["id"] == depth
    assert node["children"] == []
