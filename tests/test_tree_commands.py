"""The snapshot-tree commands, run through the real CLI against a real btrfs store."""

import json

import pytest

from ashcore.fs import btrfs


def test_init_creates_readonly_base(store):
    assert store.ids() == {0}
    assert btrfs.is_readonly(store.snapshot(0))
    assert (store.snapshot(0) / "bin/busybox").exists()
    assert store.tree_json()["distro"] == "testos"


def test_tree_drawing_several_levels(store):
    assert store("clone", "0").stdout.strip() == "1"
    store("branch", "1", "--desc", "applications")  # 2 under 1
    store("branch", "2", "--desc", "MATE full desktop")  # 3 under 2
    store("cbranch", "3", "--desc", "Plasma full desktop")  # 4 under 2
    store("desc", "1", "multiuser", "system")
    store("clone", "0", "--desc", "another tree")  # 5
    assert store("tree").stdout == (
        "root - root\n"
        "├── 0 - base snapshot\n"
        "├── 1 - multiuser system\n"
        "│   └── 2 - applications\n"
        "│       ├── 3 - MATE full desktop\n"
        "│       └── 4 - Plasma full desktop\n"
        "└── 5 - another tree\n"
    )


def record_deployed(store, sid: int) -> None:
    """Write deploy.json as 'ash deploy' leaves it (deploying for real is tested in test_deploy.py)."""
    dep = {"id": f"{sid}-1", "snapshot": sid}
    state = {
        "format": "ash-deploy",
        "version": 1,
        "snapshot": sid,
        "default": dep,
        "previous": None,
        "bootloader_pending": False,
    }
    (store.store / "ash/deploy.json").write_text(json.dumps(state))


def test_current_marked_with_star(store):
    store("clone", "0")
    record_deployed(store, 1)
    assert "└── 1*- clone of 0" in store("tree").stdout
    assert store("current").stdout.strip() == "1"


def test_clone_tree_keeps_shape(store):
    store("clone", "0")
    store("branch", "1")
    store("branch", "2")
    store("branch", "1")
    new = int(store("clone-tree", "1").stdout)
    nodes = {n["id"]: n for n in _flat(store.tree_json()["tree"])}
    assert nodes[new]["parent"] is None
    kids = [c["id"] for c in nodes[new]["children"]]
    assert len(kids) == 2
    assert sum(len(nodes[k]["children"]) for k in kids) == 1
    for sid in nodes:
        assert store.snapshot(sid).is_dir()


def test_ubranch_puts_copy_under_parent(store):
    store("clone", "0")  # 1
    store("clone", "0")  # 2
    store("run", "2", "touch", "/marker")
    new = int(store("ubranch", "1", "2").stdout)
    nodes = {n["id"]: n for n in _flat(store.tree_json()["tree"])}
    assert nodes[new]["parent"] == 1
    assert (store.snapshot(new) / "marker").exists()


def test_new_starts_from_base(store):
    assert store("new").stdout.strip() == "1"
    assert store.tree_json()["tree"][1]["description"] == "clone of base"


def test_a_description_is_kept_whole_whatever_it_holds(store):
    """``ash desc`` takes any argument, bytes that are not UTF-8 too (they reach ash as surrogates,
    and are recorded escaped), and the tree keeps the text whole, control characters and all; the
    store lock, which records the command line, takes it too."""
    text = "caf\udce9 \x1b[2J 'x' $y\n}\nsecond line"
    assert store("desc", "0", text).returncode == 0
    assert store.tree_json()["tree"][0]["description"] == text.replace("\udce9", "\\xe9")


def test_del_removes_descendants_and_asks(store):
    store("clone", "0")
    store("branch", "1")
    store("branch", "2")
    refused = store("del", "1", check=False)
    assert refused.returncode != 0 and "-y" in refused.stderr
    assert store.ids() == {0, 1, 2, 3}
    out = store("del", "1", input="y\n", check=False)  # not a terminal: still refuses
    assert out.returncode != 0
    store("del", "-y", "1")
    assert store.ids() == {0}
    assert not store.snapshot(2).exists()
    assert sorted(p.name for p in (store.store / "rootfs").iterdir()) == ["snapshot-0"]


@pytest.mark.parametrize("protected, why", [("0", "base"), ("deployed", "deployed"), ("booted", "booted")])
def test_del_refuses_protected(store, protected, why):
    store("clone", "0")
    store("branch", "1")
    if protected == "deployed":
        record_deployed(store, 2)
    elif protected == "booted":
        (store.sysroot / "usr/lib/ash").mkdir(parents=True)
        (store.sysroot / "usr/lib/ash/snapshot").write_text("2\n")
    target = "0" if protected == "0" else "1"  # deleting 1 would delete its child 2
    out = store("del", "-y", target, check=False)
    assert out.returncode == 2
    assert why in out.stderr and len(out.stderr.strip().splitlines()) <= 2
    assert store.ids() >= {0, 1, 2}


def test_mutability(store):
    store("clone", "0")
    assert btrfs.is_readonly(store.snapshot(1))
    store("mutable", "1")
    assert not btrfs.is_readonly(store.snapshot(1))
    child = int(store("branch", "1").stdout)
    assert not btrfs.is_readonly(store.snapshot(child))
    assert _flat(store.tree_json()["tree"])[-1]["mutable"] is True
    store("run", "1", "touch", "/x")
    assert not btrfs.is_readonly(store.snapshot(1)), "a transaction keeps a mutable snapshot writable"
    store("immen", "1")
    assert btrfs.is_readonly(store.snapshot(1))
    out = store("immdis", "0", check=False)
    assert out.returncode == 2 and "base" in out.stderr
    assert btrfs.is_readonly(store.snapshot(0))


@pytest.mark.parametrize(
    "args",
    [
        ["clone", "7"],
        ["branch", "abc"],
        ["desc", "9", "x"],
        ["run", "5", "true"],
        ["del", "-y", "3"],
        ["ubranch", "8", "0"],
        ["mutable", "one"],
        ["install", "4", "pkg"],
        ["chroot", "1.5"],
        ["unlock", "6"],
    ],
)
def test_bad_snapshot_arguments_give_one_line(store, args):
    out = store(*args, check=False)
    assert out.returncode == 2, out
    first = out.stderr.strip().splitlines()[0]
    assert first.startswith("ash: error:") and args[1 if args[0] != "del" else 2] in first


def _flat(nodes):
    out = []
    for n in nodes:
        out.append(n)
        out.extend(_flat(n["children"]))
    return out


def test_init_from_an_archive(ash, busybox_root, tmp_path):
    import subprocess

    archive = tmp_path / "root.tar"
    subprocess.run(["tar", "-C", busybox_root, "-cf", archive, "."], check=True)
    ash("init", "--from", archive)
    assert (ash.snapshot(0) / "bin/busybox").exists()
    again = ash("init", "--from", archive, check=False)
    assert again.returncode == 1 and "already holds a snapshot store" in again.stderr


@pytest.mark.usefixtures("root_tools")  # ash init needs root before it looks at the sysroot
def test_init_refuses_what_is_not_btrfs(tmp_path, busybox_root):
    from ash_testing.cli import Ash

    out = Ash(tmp_path)("init", "--from", busybox_root, check=False)
    assert out.returncode == 1
    assert "not btrfs" in out.stderr.splitlines()[0]


def test_commands_without_a_store_say_so(ash):
    out = ash("tree", check=False)
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        f"ash: error: no snapshot store at {ash.store}",
        "hint: create one with 'ash init', or point --sysroot at an ash system",
    ]


def test_current_without_deployment(store):
    out = store("current", check=False)
    assert out.returncode == 1 and "no snapshot is booted or deployed yet" in out.stderr
    assert json.loads(store("current", "--json").stdout) == {"current": None, "booted": None, "deployed": None}


def test_chroot_keeps_changes_only_on_success(store):
    store("clone", "0")
    store("chroot", "1", input="touch /kept\nexit 0\n")
    assert (store.snapshot(1) / "kept").exists()
    out = store("chroot", "1", input="touch /dropped\nexit 3\n", check=False)
    assert out.returncode == 3
    assert "snapshot 1 left unchanged" in out.stderr
    assert not (store.snapshot(1) / "dropped").exists()
    assert btrfs.is_readonly(store.snapshot(1))


def test_run_passes_options_to_the_command(store):
    store("clone", "0")
    out = store("run", "1", "ls", "-a", "/")
    assert ".." in out.stdout.split()


def test_unlock_clears_a_leftover_working_copy(store):
    store("clone", "0")
    btrfs.snapshot(store.snapshot(1), store.store / "rootfs/.work-1", readonly=False)
    store("unlock", "1")
    assert not (store.store / "rootfs/.work-1").exists()
