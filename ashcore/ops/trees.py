"""Tree-wide operations: one action applied to a snapshot and each of its descendants, parents
first, each snapshot its own transaction, and a report of what happened to each."""

from __future__ import annotations

import sys
from collections.abc import Callable

import attrs

from ..console import say_error
from ..errors import AshError
from ..store.tree import BASE, Tree


class NothingToDo(AshError):
    """The snapshot has nothing the command could change; tree operations skip it."""


@attrs.define
class TreeReport:
    """What a tree-wide operation did to each snapshot."""

    done: list[int] = attrs.field(factory=list)
    failed: dict[int, str] = attrs.field(factory=dict)
    skipped: dict[int, str] = attrs.field(factory=dict)

    def print(self, what: str) -> None:
        if self.done:
            print(f"{what}: done in {', '.join(map(str, sorted(self.done)))}")
        for sid, why in self.skipped.items():
            print(f"{what}: skipped {sid} ({why})")
        for sid, why in self.failed.items():
            print(f"{what}: FAILED in {sid}: {why}", file=sys.stderr)

    def fail(self, sid: int, error: Exception) -> None:
        """Record why snapshot ``sid`` failed, and say it at once (with --debug, where it came from
        too, unless it is an :class:`AshError`)."""
        self.failed[sid] = say_error(error, f"snapshot {sid}: ")

    def check(self, what: str) -> None:
        if self.failed:
            raise AshError(f"{what} failed in snapshot(s) {', '.join(map(str, self.failed))}; the others were done")


def for_each(tree: Tree, root: int, action: Callable[[int], None], report: TreeReport | None = None) -> TreeReport:
    """Apply ``action`` to ``root`` and every descendant, parents first; a failure in one snapshot,
    whatever it is, stops no other (only Ctrl-C and exits stop them all)."""
    report = report or TreeReport()
    for sid in tree.subtree(root):
        if sid == BASE:
            report.skipped[sid] = "the base changes only with base-update"
            continue
        try:
            action(sid)
        except NothingToDo as exc:
            report.skipped[sid] = exc.message
        except Exception as exc:
            report.fail(sid, exc)
        else:
            report.done.append(sid)
    return report
