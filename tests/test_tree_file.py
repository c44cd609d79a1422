"""No input loses tree data: a damaged tree file is refused by changing commands, shown whole by
the looking ones, and repaired by ``ash check`` field by field, its damaged copies kept under new
names and the previous good version beside it. Real stores on btrfs, the real CLI."""

from __future__ import annotations

import json

import pytest
from ash_testing.snapshots import populate

SNAPSHOTS = 60


@pytest.fixture
def big(store):
    """A store with chains and branches of 60 snapshots, each with its own description (the tree
    file written with ash's own code, the snapshots made with the btrfs ioctl, for speed)."""
    populate(store, SNAPSHOTS)
    return store


def tree_data(store) -> dict:
    return json.loads((store.store / "ash/tree.json").read_text())


def write_tree(store, data: dict) -> bytes:
    raw = json.dumps(data).encode()
    (store.store / "ash/tree.json").write_bytes(raw)
    return raw


def entry(data: dict, sid: int) -> dict:
    return next(s for s in data["snapshots"] if s["id"] == sid)


def one_error(proc) -> str:
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ash: error:")]
    assert proc.returncode == 1 and len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return errors[0]


DAMAGE = {
    "parent not a number": lambda d: entry(d, 7).update(parent="six"),
    "description not text": lambda d: entry(d, 7).update(description=["not", "text"]),
    "mutable not a flag": lambda d: entry(d, 7).update(mutable="yes"),
    "entry without a number": lambda d: d["snapshots"].append({"id": "x", "parent": None}),
    "duplicated number": lambda d: d["snapshots"].append({**entry(d, 7), "description": "an impostor"}),
    "parent loop": lambda d: (entry(d, 4).update(parent=5), entry(d, 5).update(parent=4)),
    "next number damaged": lambda d: d.update(next_id="many"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_one_damaged_field_loses_nothing_else(big, damage):
    good = tree_data(big)
    data = tree_data(big)
    DAMAGE[damage](data)
    raw = write_tree(big, data)

    refused = big("clone", "1", check=False)  # a changing command refuses, naming the damage
    assert "tree.json is damaged" in one_error(refused) and "hint: repair it with 'ash check'" in refused.stderr
    assert (big.store / "ash/tree.json").read_bytes() == raw, "nothing was changed"
    assert not list((big.store / "rootfs").glob(".*")), "no working copy was made"

    shown = big("tree")  # the looking commands show every snapshot, and say what is wrong
    assert "ash: warning:" in shown.stderr and "'ash check' repairs the file" in shown.stderr
    assert len(shown.stdout.splitlines()) == 1 + SNAPSHOTS + 1, shown.stdout
    assert big.ids() == set(range(SNAPSHOTS + 1))

    report = big("check").stdout
    assert "kept the damaged tree file as ash/tree.json.broken-" in report, report
    repaired = tree_data(big)
    assert {s["id"] for s in repaired["snapshots"]} == set(range(SNAPSHOTS + 1))
    for old in good["snapshots"]:
        new = entry(repaired, old["id"])
        if old["id"] not in (4, 5, 7):
            assert new == old, f"snapshot {old['id']} kept every field"
        assert new["description"] == old["description"] or (damage == "description not text" and old["id"] == 7)
    [kept] = (big.store / "ash").glob("tree.json.broken-*")
    assert kept.read_bytes() == raw
    assert big("clone", "1").stdout.strip() == str(SNAPSHOTS + 1), "numbers are never reused"


def test_damaged_copies_are_never_overwritten(big):
    copies = []
    for n in range(3):
        data = tree_data(big)
        entry(data, 7)["parent"] = f"bad {n}"
        copies.append(write_tree(big, data))
        big("check")
    kept = sorted((big.store / "ash").glob("tree.json.broken-*"))
    assert sorted(p.read_bytes() for p in kept) == sorted(copies)


def test_a_parent_loop_is_shown_whole_and_broken_at_its_lowest_snapshot(big):
    data = tree_data(big)
    for a, b in ((1, 2), (2, 1)):
        entry(data, a)["parent"] = b
    write_tree(big, data)
    shown = big("tree")
    assert "snapshots 1, 2 were each other's ancestors; 1 is now a tree of its own" in shown.stderr
    assert all(f"{sid} - snapshot number {sid}" in shown.stdout for sid in range(1, SNAPSHOTS + 1))
    big("check")
    assert entry(tree_data(big), 1)["parent"] is None and entry(tree_data(big), 2)["parent"] == 1
    assert entry(tree_data(big), 2)["description"] == "snapshot number 2"


def test_the_previous_version_is_kept_and_check_falls_back_on_it(big):
    before = tree_data(big)
    big("desc", "7", "a new description")
    assert json.loads((big.store / "ash/tree.json.prev").read_text()) == before
    (big.store / "ash/tree.json").write_text("{ torn by a bad edit")
    report = big("check").stdout
    assert "took the tree from ash/tree.json.prev" in report
    assert {s["id"]: s["description"] for s in tree_data(big)["snapshots"]} == {
        s["id"]: s["description"] for s in before["snapshots"]
    }


def test_the_lock_file_is_never_written_through_a_link(store, tmp_path):
    target = tmp_path / "host-file"
    target.write_text("the host's\n")
    lock = store.store / "ash/lock"
    lock.unlink(missing_ok=True)
    lock.symlink_to(target)
    refused = store("clone", "0", check=False)
    assert "is a symbolic link, not ash's lock file" in one_error(refused)
    assert target.read_text() == "the host's\n"
