"""Repairs of the tree against the snapshots on disk, on a store whose snapshots are plain
directories (what repair() reads of them is their names; it deletes one only to finish a del),
and the recovery of damaged tree files (salvage, loops, the previous version)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ashcore.errors import AshError
from ashcore.store.repair import recover, repair
from ashcore.store.store import Store
from ashcore.store.tree import FORMAT, VERSION, Snapshot, Tree, salvage
from ashcore.store.treefile import _parent_loops


def make_tree(parents: dict[int, int | None], **fields) -> Tree:
    tree = Tree(**fields)
    for sid, parent in parents.items():
        tree.add(Snapshot(sid, parent, f"snapshot {sid}", created="2024-05-01T12:00:00Z"))
    return tree


def store_with(tmp_path: Path, *on_disk: int) -> Store:
    """A store whose rootfs/ holds a directory for each snapshot of ``on_disk``."""
    store = Store(tmp_path)
    store.rootfs.mkdir(parents=True)
    for sid in on_disk:
        store.snapshot_path(sid).mkdir()
    return store


def parents(tree: Tree) -> dict[int, int | None]:
    return {sid: s.parent for sid, s in sorted(tree.snapshots.items())}


def test_a_tree_that_matches_the_disk_is_left_alone(tmp_path):
    tree = make_tree({0: None, 1: 0, 2: 1}, next_id=3)
    before = copy.deepcopy(tree)
    assert repair(store_with(tmp_path, 0, 1, 2), tree) == (before, [])


def test_a_snapshot_whose_subvolume_is_gone_is_forgot_and_its_children_move_up(tmp_path):
    tree, notes = repair(store_with(tmp_path, 0, 2, 3), make_tree({0: None, 1: 0, 2: 1, 3: 2}, next_id=4))
    assert parents(tree) == {0: None, 2: 0, 3: 2}
    assert notes == ["forgot snapshot 1: its subvolume is gone"]


def test_an_interrupted_delete_is_finished(tmp_path):
    store = store_with(tmp_path, 0, 1, 2)
    (store.snapshot_path(2) / "etc").mkdir()
    tree, notes = repair(store, make_tree({0: None, 1: 0, 2: 1}, next_id=3, deleting=[2]))
    assert not store.snapshot_path(2).exists()
    assert (parents(tree), tree.deleting) == ({0: None, 1: 0}, [])
    assert notes == ["finished deleting snapshot 2, which an interrupted ash had begun"]


def test_a_delete_interrupted_after_its_subvolume_went_is_finished_in_the_tree(tmp_path):
    tree, notes = repair(store_with(tmp_path, 0, 1), make_tree({0: None, 1: 0, 2: 1}, next_id=3, deleting=[2]))
    assert (parents(tree), tree.deleting) == ({0: None, 1: 0}, [])
    assert notes == ["finished deleting snapshot 2, which an interrupted ash had begun"], "not also 'forgot'"


def test_a_parent_loop_is_broken_at_its_lowest_snapshot_when_the_file_is_read():
    data = make_tree({0: None, 1: 2, 2: 1, 3: 2}, next_id=4).to_json()
    tree, problems = salvage(data)
    assert parents(tree) == {0: None, 1: None, 2: 1, 3: 2}, "3 only led into the loop: it keeps its parent"
    assert problems == ["snapshots 1, 2 were each other's ancestors; 1 is now a tree of its own"]


def test_a_snapshot_whose_parent_never_existed_becomes_a_tree_of_its_own(tmp_path):
    tree, notes = repair(store_with(tmp_path, 0, 4), make_tree({0: None, 4: 9}, next_id=10))
    assert parents(tree) == {0: None, 4: None}
    assert notes == ["snapshot 4 had a missing parent 9; it is now a tree of its own"]


@pytest.mark.parametrize("parent, mutable", [(None, True), (1, False), (1, True)])
def test_the_base_is_made_immutable_and_top_level_again(tmp_path, parent, mutable):
    tree = make_tree({1: None, 0: parent}, next_id=2)
    tree[0].mutable = mutable
    tree, notes = repair(store_with(tmp_path, 0, 1), tree)
    assert (tree[0].parent, tree[0].mutable) == (None, False)
    assert notes == ["snapshot 0 is the base: made it immutable and top-level again"]


def test_next_id_is_raised_above_every_snapshot(tmp_path):
    tree, _ = repair(store_with(tmp_path, 0, 5), make_tree({0: None, 5: 0}, next_id=2))
    assert tree.next_id == 6


def test_a_missing_tree_is_rebuilt_from_an_empty_store(tmp_path):
    tree, notes = repair(store_with(tmp_path), None)
    assert tree == Tree(distro=None, next_id=1)
    assert notes == ["rebuilt the tree file from the snapshots on disk"]


def test_recover_a_missing_file_without_a_previous_one_asks_for_a_rebuild(tmp_path):
    assert recover(Store(tmp_path)) == (None, ["tree.json was missing"], False)


@pytest.mark.parametrize("raw", [b"{", b'{"format": "other"}', b"[]"])
def test_recover_keeps_an_unreadable_file_aside_and_asks_for_a_rebuild(tmp_path, raw):
    store = Store(tmp_path)
    store.state.mkdir(parents=True)
    store.tree_file.write_bytes(raw)
    tree, notes, sound = recover(store)
    [kept] = store.state.glob("tree.json.broken-*")
    assert (tree, sound, kept.read_bytes()) == (None, False, raw)
    assert notes[0].startswith("tree.json was unreadable (") and notes[0].endswith(f"kept it as ash/{kept.name}")


def test_recover_takes_the_previous_version_of_an_unreadable_file(tmp_path):
    store = Store(tmp_path)
    store.state.mkdir(parents=True)
    good = make_tree({0: None, 1: 0}, next_id=2, distro="debian")
    store.save(good)
    store.save(make_tree({0: None, 1: 0, 2: 1}, next_id=3, distro="debian"))  # the good one is now .prev
    store.tree_file.write_bytes(b"{ torn")
    tree, notes, sound = recover(store)
    assert (tree, sound) == (good, False)
    assert notes[-1] == "took the tree from ash/tree.json.prev, the version before the last change"


def test_recover_salvages_a_damaged_file_entry_by_entry(tmp_path):
    store = Store(tmp_path)
    store.state.mkdir(parents=True)
    data = make_tree({0: None, 1: 0, 2: 1}, next_id=3).to_json()
    data["snapshots"][2]["parent"] = "one"
    store.tree_file.write_text(json.dumps(data))
    tree, notes, sound = recover(store)
    assert (parents(tree), sound) == ({0: None, 1: 0, 2: None}, False)
    assert notes[0] == "snapshot 2: the parent 'one' is not a snapshot number; it is now a tree of its own"
    assert notes[1].startswith("kept the damaged tree file as ash/tree.json.broken-")


def test_recover_refuses_a_newer_file_and_keeps_it_as_it_is(tmp_path):
    store = Store(tmp_path)
    store.state.mkdir(parents=True)
    raw = json.dumps({"format": FORMAT, "version": VERSION + 1, "snapshots": []}).encode()
    store.tree_file.write_bytes(raw)
    with pytest.raises(AshError, match="written by a newer ash"):
        recover(store)
    assert store.tree_file.read_bytes() == raw and not list(store.state.glob("tree.json.broken*"))


def test_recover_reads_a_good_file(tmp_path):
    store = Store(tmp_path)
    store.state.mkdir(parents=True)
    tree = make_tree({0: None, 1: 0}, next_id=2, distro="debian")
    store.save(tree)
    assert recover(store) == (tree, [], True)


@pytest.mark.parametrize(
    "links, looping",
    [
        ({0: None, 1: 0, 2: 1}, set()),
        ({1: 1}, {1}),
        ({1: 2, 2: 1, 3: 2}, {1, 2}),
        ({1: 2, 2: 3, 3: 4, 4: 2, 5: None}, {2, 3, 4}),
        ({1: 2, 2: 1, 3: 4, 4: 3}, {1, 2, 3, 4}),
        ({3: 4, 4: 2, 2: 3}, {2, 3, 4}),
        ({1: 9, 2: 1}, set()),
    ],
    ids=[
        "acyclic",
        "self-parent",
        "pair-with-tail",
        "chain-into-loop",
        "two-loops",
        "walked-from-the-middle",
        "missing-parent",
    ],
)
def test_parent_loops_are_exactly_the_snapshots_on_a_loop(links, looping):
    loops = _parent_loops({sid: s.to_json() for sid, s in make_tree(links).snapshots.items()})
    assert {sid for loop in loops for sid in loop} == looping
    assert all(len(set(loop)) == len(loop) for loop in loops), "each loop is listed once"
