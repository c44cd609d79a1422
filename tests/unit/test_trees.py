"""Tree-wide operations with plain Python actions: the visiting order, what skips and what
fails a snapshot without stopping the others, and the report."""

from __future__ import annotations

import pytest

from ashcore.errors import AshError
from ashcore.ops.trees import NothingToDo, TreeReport, for_each
from ashcore.store.tree import Snapshot, Tree

BASE_SKIP = "the base changes only with base-update"


def tree() -> Tree:
    """0 has children 1 and 3; 1 has 2; 2 has 4."""
    t = Tree()
    for sid, parent in {0: None, 1: 0, 2: 1, 3: 0, 4: 2}.items():
        t.add(Snapshot(sid, parent))
    return t


def failing_at(sid: int, error: BaseException, seen: list[int]):
    def action(visited: int) -> None:
        seen.append(visited)
        if visited == sid:
            raise error

    return action


def test_every_snapshot_but_the_base_is_visited_parents_first():
    seen: list[int] = []
    report = for_each(tree(), 0, seen.append)
    assert seen == [1, 2, 4, 3]
    assert report == TreeReport(done=[1, 2, 4, 3], failed={}, skipped={0: BASE_SKIP})


def test_a_subtree_is_visited_from_its_root():
    seen: list[int] = []
    assert for_each(tree(), 2, seen.append).done == seen == [2, 4]


@pytest.mark.parametrize(
    "error, message",
    [
        (AshError("apt-get exited with status 100", hint="see above"), "apt-get exited with status 100"),
        (ValueError("bad\n  value"), "ValueError: bad value"),
        (
            FileNotFoundError(2, "No such file or directory", "/usr/bin/apt-get"),
            "No such file or directory: /usr/bin/apt-get",
        ),
    ],
    ids=["ash-error", "any-exception", "os-error"],
)
def test_a_failure_is_recorded_and_said_at_once_and_stops_no_other_snapshot(capsys, error, message):
    seen: list[int] = []
    report = for_each(tree(), 0, failing_at(2, error, seen))
    assert seen == [1, 2, 4, 3]
    assert (report.done, report.failed) == ([1, 4, 3], {2: message})
    assert capsys.readouterr().err.splitlines()[0] == f"ash: error: snapshot 2: {message}"


def test_nothing_to_do_skips_the_snapshot_silently(capsys):
    report = for_each(tree(), 1, failing_at(2, NothingToDo("it has its parent's packages"), []))
    assert report == TreeReport(done=[1, 4], failed={}, skipped={2: "it has its parent's packages"})
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("interruption", [KeyboardInterrupt(), SystemExit(1)])
def test_ctrl_c_and_exit_stop_the_whole_operation(interruption):
    seen: list[int] = []
    with pytest.raises(type(interruption)):
        for_each(tree(), 0, failing_at(2, interruption, seen))
    assert seen == [1, 2]


def test_a_given_report_is_filled_in():
    report = TreeReport(done=[9])
    assert for_each(tree(), 3, lambda sid: None, report) is report
    assert report.done == [9, 3]


def test_print_says_done_in_order_then_skips_on_stdout_and_failures_on_stderr(capsys):
    TreeReport(done=[4, 1], failed={2: "no space left"}, skipped={0: BASE_SKIP}).print("sync")
    out, err = capsys.readouterr()
    assert out == f"sync: done in 1, 4\nsync: skipped 0 ({BASE_SKIP})\n"
    assert err == "sync: FAILED in 2: no space left\n"


def test_print_of_nothing_done_prints_no_done_line(capsys):
    TreeReport(skipped={3: "nothing to do"}).print("tree-upgrade")
    assert capsys.readouterr().out == "tree-upgrade: skipped 3 (nothing to do)\n"


def test_check_fails_naming_the_failed_snapshots():
    with pytest.raises(AshError, match=r"^sync failed in snapshot\(s\) 2, 5; the others were done$"):
        TreeReport(done=[1], failed={2: "x", 5: "y"}).check("sync")


def test_check_passes_when_nothing_failed():
    TreeReport(done=[1], skipped={0: BASE_SKIP}).check("sync")
