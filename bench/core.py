#!/usr/bin/env python3
"""Core benchmarks; prints JSON. Run as root: ``.venv/bin/python bench/core.py``.

* ``ash --help``, ``ash plugins`` and ``ash tree`` wall time on a store of 1,000 snapshots with every
  plugin of this repository installed (goal: ``ash tree`` under 150 ms; it imports no plugin, as it
  needs none, while ``--help`` and ``plugins`` import them all);
* ``ash clone`` beside a bare ``btrfs subvolume snapshot`` of the same subvolume (goal: within 100 ms);
* a no-op transaction, ``ash run <snapshot> true``.

Each figure is the median (and minimum) of several runs, in milliseconds. ash is measured as a user
gets it: installed (not editable) with every plugin of this repository into a fresh virtual
environment and byte-compiled. The store lives on a loop-mounted btrfs image that the script
creates and removes.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from ash_testing.roots import busybox_tree

from ashcore.fs import btrfs
from ashcore.store.store import Store
from ashcore.store.tree import Snapshot

REPO = Path(__file__).resolve().parents[1]
SNAPSHOTS = 1000


def timed(argv: list[str], runs: int, setup=None) -> dict:
    samples = []
    for _ in range(runs):
        if setup:
            setup()
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        samples.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(statistics.median(samples), 1), "min_ms": round(min(samples), 1), "runs": runs}


def install_ash(venv: Path) -> str:
    """ash and every plugin here, installed as a user would (not editable), byte-compiled."""
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    plugins = [p for p in sorted((REPO / "plugins").iterdir()) if (p / "pyproject.toml").exists()]
    subprocess.run(
        [venv / "bin/pip", "install", "-q", "--disable-pip-version-check", REPO, *plugins],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run([venv / "bin/python", "-m", "compileall", "-q", venv / "lib"], check=True, stdout=subprocess.DEVNULL)
    return str(venv / "bin/ash")


def populate(store: Store, count: int) -> None:
    """Grow the store to ``count`` snapshots (a tree of 10 trees of 100) without going through the CLI."""
    tree = store.load()
    for sid in range(1, count):
        parent = None if sid % 100 == 1 else (sid - 1 if sid % 3 else sid - 2)
        tree.add(Snapshot(id=sid, parent=parent, description=f"benchmark snapshot {sid}"))
        btrfs.snapshot(store.snapshot_path(0), store.snapshot_path(sid), readonly=True)
    tree.next_id = count
    store.save(tree)


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("bench/core.py: run as root (it mounts a btrfs image)")
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ash-bench-")))
        ash_bin = install_ash(tmp / "venv")
        image, mnt = tmp / "fs.img", tmp / "mnt"
        mnt.mkdir()
        with open(image, "wb") as f:
            f.truncate(8 << 30)
        subprocess.run(["mkfs.btrfs", "-q", image], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "loop", image, mnt], check=True)
        stack.callback(subprocess.run, ["umount", mnt], check=True)
        ash, python = [ash_bin, "--sysroot", str(mnt)], str(tmp / "venv/bin/python")
        base = busybox_tree(tmp / "root", "ID=benchos\n", applets=("sh", "true"))
        subprocess.run([*ash, "init", "--from", base], check=True, stdout=subprocess.DEVNULL)
        store = Store(mnt)
        populate(store, SNAPSHOTS)
        subprocess.run([*ash, "tree"], check=True, stdout=subprocess.DEVNULL)  # warm caches

        plugins = json.loads(
            subprocess.run([*ash, "plugins", "--json"], check=True, capture_output=True, text=True).stdout
        )
        bare_target = store.path / "bare"

        def drop_bare() -> None:
            if bare_target.exists():
                btrfs.delete(bare_target)

        results = {
            "snapshots": SNAPSHOTS,
            "plugins_installed": [p["name"] for p in plugins],
            "note": "ash tree needs no plugin and imports none; ash --help and ash plugins import every one",
            "python": sys.version.split()[0],
            # the floor under every ash command on this machine: the interpreter, then the libraries
            "python -c pass (interpreter start)": timed([python, "-c", "pass"], 15),
            "python -c 'import typer, attrs'": timed([python, "-c", "import typer, attrs"], 15),
            "ash --help": timed([*ash, "--help"], 15),
            "ash tree": timed([*ash, "tree"], 15),
            "ash tree --json": timed([*ash, "tree", "--json"], 15),
            "ash plugins": timed([*ash, "plugins"], 15),
            "bare btrfs subvolume snapshot": timed(
                ["btrfs", "subvolume", "snapshot", "-r", str(store.snapshot_path(1)), str(bare_target)],
                10,
                setup=drop_bare,
            ),
            "ash clone": timed([*ash, "clone", "1"], 10),
            "ash run <snapshot> true (no-op transaction)": timed([*ash, "run", "2", "true"], 10),
        }
        drop_bare()
        results["clone overhead over bare snapshot (ms)"] = round(
            results["ash clone"]["median_ms"] - results["bare btrfs subvolume snapshot"]["median_ms"], 1
        )
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
