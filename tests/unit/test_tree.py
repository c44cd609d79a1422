"""The snapshot tree as data: its drawing, its walks in parents-first order, how snapshot numbers
are handed out and taken back, and the JSON file format with its errors."""

from __future__ import annotations

import json

import pytest

from ashcore.store.tree import (
    FORMAT,
    VERSION,
    InstalledProfile,
    NewerTreeFormat,
    Snapshot,
    Tree,
    TreeFormatError,
    salvage,
)

CREATED = "2024-05-01T12:00:00Z"


def make_tree(*snapshots: tuple[int, int | None, str], **fields) -> Tree:
    """A tree of ``(id, parent, description)`` snapshots, added in the order given."""
    tree = Tree(**fields)
    for sid, parent, description in snapshots:
        tree.add(Snapshot(sid, parent, description, created=CREATED))
    return tree


def sample() -> Tree:
    """0 has children 1 and 3; 1 has 2 and 4; 2 has 5; 7 is a tree of its own. 3 is added before
    2, so any order by number comes from the tree, not from the order of insertion."""
    return make_tree(
        (0, None, "base snapshot"),
        (1, 0, "web server\nwith notes below"),
        (3, 0, "desktop"),
        (2, 1, "nginx"),
        (4, 1, ""),
        (5, 2, "tls"),
        (7, None, "recovered by ash check"),
    )


DRAWING = """\
root - root
├── 0 - base snapshot
│   ├── 1 - web server
│   │   ├── 2*- nginx
│   │   │   └── 5 - tls
│   │   └── 4 -
│   └── 3 - desktop
└── 7 - recovered by ash check"""


def test_render_draws_children_in_number_order_with_the_first_line_of_each_description():
    assert sample().render(current=2) == DRAWING


@pytest.mark.parametrize("current, marked", [(None, []), (7, ["└── 7*- recovered by ash check"]), (99, [])])
def test_render_marks_only_the_current_snapshot(current, marked):
    assert [line for line in sample().render(current).splitlines() if "*" in line] == marked


def test_render_of_an_empty_tree_is_the_root_line():
    assert Tree().render() == "root - root"


def test_nested_has_the_drawing_shape_and_each_snapshot_record():
    def shape(nodes: list[dict]) -> list:
        return [(n["id"], n["current"], shape(n["children"])) for n in nodes]

    nested = sample().nested(current=2)
    assert shape(nested) == [
        (0, False, [(1, False, [(2, True, [(5, False, [])]), (4, False, [])]), (3, False, [])]),
        (7, False, []),
    ]
    assert {k: v for k, v in nested[0].items() if k not in ("current", "children")} == sample()[0].to_json()


@pytest.mark.parametrize("root, expected", [(0, [1, 2, 5, 4, 3]), (1, [2, 5, 4]), (5, []), (7, [])])
def test_descendants_are_each_listed_once_in_pre_order(root, expected):
    assert sample().descendants(root) == expected


def test_subtree_is_the_snapshot_then_its_descendants():
    assert sample().subtree(1) == [1, 2, 5, 4]


def test_edges_put_every_parent_before_its_children():
    assert list(sample().edges(0)) == [(0, 1), (1, 2), (2, 5), (1, 4), (0, 3)]


def test_allocate_hands_out_next_id_and_moves_it_on():
    tree = make_tree((0, None, ""), (1, 0, ""), next_id=5)
    assert [tree.allocate(), tree.allocate()] == [5, 6]
    assert tree.next_id == 7


@pytest.mark.parametrize("taken, expected", [((), 8), ((12,), 13), ((3, 20), 21)])
def test_allocate_never_gives_a_number_in_the_tree_or_taken_on_disk(taken, expected):
    tree = make_tree((0, None, ""), (7, 0, ""), next_id=1)  # a next_id lagging behind the snapshots
    assert tree.allocate(*taken) == expected


def test_a_removed_number_is_never_handed_out_again():
    tree = make_tree((0, None, ""), (1, 0, ""), (2, 1, ""), next_id=1)
    tree.remove(2)
    assert tree.allocate() == 3


def test_remove_moves_the_children_up_to_the_parent():
    tree = sample()
    tree.remove(1)
    assert 1 not in tree
    assert (tree[2].parent, tree[4].parent) == (0, 0)
    assert tree.descendants(0) == [2, 5, 3, 4]  # siblings by number, wherever they came from


def test_removing_a_top_snapshot_makes_its_children_trees_of_their_own():
    tree = sample()
    tree.remove(0)
    assert (tree[1].parent, tree[3].parent) == (None, None)
    assert [n["id"] for n in tree.nested()] == [1, 3, 7]


def test_json_round_trip_keeps_everything():
    tree = sample()
    tree.distro, tree.next_id, tree.deleting = "debian", 9, [8]
    tree[3].mutable = True
    assert Tree.from_json(json.loads(json.dumps(tree.to_json()))) == tree


def test_to_json_lists_snapshots_by_number_under_the_format_header():
    data = sample().to_json()
    assert (data["format"], data["version"]) == (FORMAT, VERSION)
    assert [s["id"] for s in data["snapshots"]] == [0, 1, 2, 3, 4, 5, 7]


def test_from_json_fills_in_optional_fields():
    tree = Tree.from_json({"format": FORMAT, "version": VERSION, "snapshots": [{"id": 3, "parent": None}]})
    assert tree == Tree(snapshots={3: Snapshot(3, None, "", False, "")}, distro=None, next_id=1, deleting=[])


@pytest.mark.parametrize(
    "raw", [{"id": "3"}, {"id": True}, {"id": -1}, {"id": 3, "parent": "2"}, {"id": 3, "mutable": 1}]
)
def test_from_json_takes_numbers_and_flags_only_as_json_numbers_and_booleans(raw):
    with pytest.raises(TreeFormatError):
        Tree.from_json({"format": FORMAT, "version": VERSION, "snapshots": [raw]})


@pytest.mark.parametrize(
    "data",
    [
        [],
        "ash-tree",
        {"format": "other", "version": VERSION},
        {"format": FORMAT},
        {"format": FORMAT, "version": "1"},
        {"format": FORMAT, "version": 0},
    ],
    ids=["list", "string", "other-format", "no-version", "version-as-text", "older-version"],
)
def test_from_json_refuses_what_is_not_a_tree_of_this_format(data):
    with pytest.raises(TreeFormatError) as refused:
        Tree.from_json(data)
    assert not isinstance(refused.value, NewerTreeFormat), "only a newer ash's file is spared a rebuild"


def test_from_json_says_a_newer_format_is_newer():
    with pytest.raises(NewerTreeFormat, match=r"^tree format version 2 \(this ash reads 1\)$"):
        Tree.from_json({"format": FORMAT, "version": VERSION + 1, "snapshots": []})


def test_installed_profiles_are_kept_in_the_snapshot_record():
    tree = sample()
    tree[1].profiles = [
        InstalledProfile("server", ("openssh-server", "sudo"), ("ssh.service",)),
        InstalledProfile("i3"),
    ]
    data = json.loads(json.dumps(tree.to_json()))
    assert data["snapshots"][1]["profiles"] == [
        {"name": "server", "packages": ["openssh-server", "sudo"], "services": ["ssh.service"]},
        {"name": "i3", "packages": [], "services": []},
    ]
    assert Tree.from_json(data) == tree
    assert Tree.from_json(data)[0].profiles == []


@pytest.mark.parametrize(
    "raw", ["server", [{"name": ""}], [{"name": "x", "packages": "a b"}], [{"name": "x", "services": [1]}], [3]]
)
def test_a_damaged_record_of_profiles_is_forgotten_and_named(raw):
    data = sample().to_json()
    data["snapshots"][1]["profiles"] = raw
    tree, problems = salvage(data)
    assert tree[1].profiles == [] and tree[1].description == "web server\nwith notes below"
    assert problems == [f"snapshot 1: the record of its installed profiles {raw!r} is damaged; forgotten"]
