"""The reliability campaign's bookkeeping: classes of cases, each generated from a fixed seed, what
each case tried and how it ended, and the table printed at the end of the test run.

A class is a :class:`Campaign` (the ``campaign`` fixture makes one); its cases come from
:meth:`Campaign.cases`, which yields as many as the class's base count times ``ASH_CAMPAIGN_SCALE``
(default 1). Each case says what it tries, records one outcome (``committed``, ``rolled back``,
``refused``, or a word of its class) and checks that nothing was lost (:func:`losses`); a case that
fails raises an error naming the class, the case and the seed that makes it again
(``ASH_CAMPAIGN_SEED``). :func:`report` prints the table (the ``pytest_terminal_summary`` hook of
:mod:`~ash_testing.fixtures` calls it), so it is in the normal output of pytest, not only with ``-s``.
"""

from __future__ import annotations

import collections
import os
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from .cli import Ash
from .mounts import mounts_under
from .snapshots import digest

#: the seed every class's cases are drawn from (each class has its own generator, seeded from it
#: and the class's name, so one class's cases do not depend on which others run)
SEED = int(os.environ.get("ASH_CAMPAIGN_SEED", "9"))
#: how many times each class's base count of cases to run
SCALE = float(os.environ.get("ASH_CAMPAIGN_SCALE", "1"))


@attrs.define
class Tally:
    """What one class of the campaign tried: cases, their outcomes, and how many lost something."""

    name: str
    tried: int = 0
    outcomes: collections.Counter[str] = attrs.field(factory=collections.Counter)
    lost: int = 0


#: every class that ran in this session, in the order they first ran
TALLIES: dict[str, Tally] = {}


def scaled(base: int) -> int:
    """``base`` cases times ``ASH_CAMPAIGN_SCALE``, at least one."""
    return max(1, round(base * SCALE))


@attrs.define
class Case:
    """One case of a class: what it tried (:attr:`tried`, set by the test) and how it ended."""

    campaign: Campaign
    number: int
    tried: str = ""
    outcome: str | None = None

    def ended(self, outcome: str) -> None:
        self.outcome = outcome

    def lost_nothing(self, problems: list[str]) -> None:
        """Fail the case if ``problems`` (what was lost or broken) is not empty."""
        if problems:
            raise AssertionError("; ".join(problems))


@attrs.define
class Campaign:
    """One class of the campaign, with its random generator (seeded from :data:`SEED` and its name)."""

    name: str
    rng: random.Random = attrs.field(init=False)
    tally: Tally = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.rng = random.Random(f"{SEED}:{self.name}")
        self.tally = TALLIES.setdefault(self.name, Tally(self.name))

    def cases(self, base: int) -> Iterator[Case]:
        """The class's cases: ``base`` of them times the scale. Use each in a ``with case(...)``."""
        for number in range(1, scaled(base) + 1):
            yield Case(self, number)

    @contextmanager
    def case(self, case: Case) -> Iterator[Case]:
        """Count ``case``; an error in it fails the test naming the class, the case and the seed."""
        self.tally.tried += 1
        try:
            yield case
        except Exception as exc:
            self.tally.lost += 1
            raise AssertionError(
                f"campaign {self.name!r}, case {case.number} (ASH_CAMPAIGN_SEED={SEED}, "
                f"ASH_CAMPAIGN_SCALE={SCALE:g}): tried {case.tried or '?'}: {exc}"
            ) from exc
        assert case.outcome is not None, f"case {case.number} of {self.name!r} recorded no outcome"
        self.tally.outcomes[case.outcome] += 1

    def each(self, base: int) -> Iterator[Case]:
        """:meth:`cases`, each already entered in :meth:`case`."""
        for case in self.cases(base):
            with self.case(case):
                yield case


def report(write_line: Any, write_sep: Any) -> None:
    """Print the table of every class that ran: cases tried, their outcomes, and how many lost
    something (0 is the only passing number)."""
    if not TALLIES:
        return
    write_sep("=", f"ash reliability campaign (ASH_CAMPAIGN_SEED={SEED}, ASH_CAMPAIGN_SCALE={SCALE:g})")
    width = max(len(t.name) for t in TALLIES.values())
    write_line(f"{'class':<{width}}  {'cases':>5}  {'lost':>4}  outcomes")
    for t in TALLIES.values():
        outcomes = ", ".join(f"{n} {what}" for what, n in sorted(t.outcomes.items(), key=lambda kv: -kv[1]))
        write_line(f"{t.name:<{width}}  {t.tried:>5}  {t.lost:>4}  {outcomes}")
    total = sum(t.tried for t in TALLIES.values())
    lost = sum(t.lost for t in TALLIES.values())
    write_line(f"{'all':<{width}}  {total:>5}  {lost:>4}  {'nothing was lost' if not lost else 'CASES FAILED'}")


# -- what "nothing was lost" means for a store ---------------------------------------------------


@attrs.frozen
class Snap:
    """What must survive of a snapshot: its files and its place and words in the tree."""

    parent: int | None
    description: str
    mutable: bool
    files: dict[str, str] = attrs.field(eq=True, repr=False)


def state(ash: Ash) -> dict[int, Snap]:
    """Every snapshot of the store as the tree shows it (the tree must load) with its files' digest."""
    found: dict[int, Snap] = {}

    def walk(nodes: list[dict]) -> None:
        for n in nodes:
            found[n["id"]] = Snap(n["parent"], n["description"], n["mutable"], digest(ash.snapshot(n["id"])))
            walk(n["children"])

    walk(ash.tree_json()["tree"])
    return found


def losses(
    before: dict[int, Snap],
    after: dict[int, Snap],
    *,
    changed: frozenset[int] | set[int] = frozenset(),
    gone: frozenset[int] | set[int] = frozenset(),
    new: frozenset[int] | set[int] = frozenset(),
) -> list[str]:
    """What differs between ``before`` and ``after`` but for what the command was meant to do:
    change the snapshots ``changed``, delete ``gone``, make ``new``."""
    problems = []
    for sid, snap in before.items():
        if sid in gone:
            if sid in after:
                problems.append(f"snapshot {sid} was to be deleted but is still there")
            continue
        if sid not in after:
            problems.append(f"snapshot {sid} was lost")
        elif sid not in changed and after[sid] != snap:
            fields = ("parent", "description", "mutable", "files")
            what = [f for f in fields if getattr(after[sid], f) != getattr(snap, f)]
            problems.append(f"snapshot {sid} changed ({', '.join(what)})")
    extra = set(after) - set(before) - set(new)
    if extra:
        problems.append(f"snapshots appeared that nothing made: {sorted(extra)}")
    missing = set(new) - set(after)
    if missing:
        problems.append(f"new snapshots missing: {sorted(missing)}")
    return problems


def leftovers(ash: Ash, *, repaired: bool = False) -> list[str]:
    """What a run must never leave: a mount on the host, or a store that ``ash check`` has to repair
    (with ``repaired``, one round of repairs is allowed first, as after a crash; the second check
    must then find nothing)."""
    problems = [f"a mount leaked: {m}" for m in mounts_under(ash.sysroot)]
    out = ash("check", check=False)
    if repaired and out.returncode == 0 and "nothing to repair" not in out.stdout:
        out = ash("check", check=False)
    if out.returncode != 0 or "nothing to repair" not in out.stdout:
        problems.append(f"ash check is not clean: {(out.stdout + out.stderr).strip()[-300:]}")
    return problems


def failpoints() -> list[str]:
    """Every failpoint in the core's source (``failpoint("area:step")``), and those of the files ash
    writes atomically (``write:<name>``): a failpoint added later is in the campaign at once."""
    import ashcore

    found = set()
    for path in Path(ashcore.__file__).parent.rglob("*.py"):
        found.update(re.findall(r'failpoint\("([a-z-]+:[a-z.-]+)"\)', path.read_text()))
    return sorted(found | {"write:tree.json", "write:deploy.json", "write:grub.cfg"})
