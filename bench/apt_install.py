#!/usr/bin/env python3
"""What a transaction costs on top of apt: ``ash install <snapshot> <package>`` beside the same
``apt-get install`` run directly in a chroot of a writable copy of that snapshot. Prints JSON.

Usage (as root, with ashcore and ash-apt installed): ``python3 bench/apt_install.py [--runs N]``.
The base is the Debian minbase tarball the ash-apt tests cache (run them once to make it). The
script makes its own btrfs filesystem on a loop-mounted sparse file, a one-package ``file:``
repository inside the base, and removes all of it again.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from ash_apt.plugin import APT_GET, ENV

CACHE = Path(os.environ.get("ASH_TEST_CACHE", "/var/cache/ash-tests"))
PACKAGE = "benchpkg"


def sh(*argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([os.fspath(a) for a in argv], check=True, **kwargs)


def timed(*argv) -> float:
    start = time.perf_counter()
    sh(*argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def arguments(doc: str | None, runs: int) -> argparse.Namespace:
    """``--runs`` and ``--base`` (the cached Debian minbase tarball, which must exist)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--base", type=Path, default=CACHE / "debian-bookworm-minbase.tar.zst")
    args = parser.parse_args()
    if not args.base.exists():
        sys.exit(f"{args.base} is missing: run 'pytest plugins/ash-apt' once to make it, or pass --base")
    return args


def loop_btrfs(tmp: Path, size: int, cleanup: ExitStack) -> Path:
    """A new btrfs of ``size`` bytes in a sparse file under ``tmp``, mounted until ``cleanup``."""
    image, mnt = tmp / "fs.img", tmp / "mnt"
    mnt.mkdir()
    with open(image, "wb") as f:
        f.truncate(size)
    sh("mkfs.btrfs", "-q", "-f", image, capture_output=True)
    sh("mount", "-o", "loop", image, mnt)
    cleanup.callback(sh, "umount", mnt)
    return mnt


def make_base(tarball: Path, base: Path, build: Path) -> None:
    """Unpack the tarball and give it a local repository holding one small package, already indexed."""
    sh(
        "tar",
        "--extract",
        "--numeric-owner",
        "--xattrs",
        "--xattrs-include=*",
        "--acls",
        "--file",
        tarball,
        "--directory",
        base,
    )
    pkg = build / PACKAGE
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "usr/share" / PACKAGE).mkdir(parents=True)
    (pkg / "usr/share" / PACKAGE / "data").write_text("benchmark\n")
    (pkg / "DEBIAN/control").write_text(
        f"Package: {PACKAGE}\nVersion: 1.0\nArchitecture: all\n"
        "Maintainer: bench <b@example.invalid>\nDescription: bench\n"
    )
    repo = base / "srv/repo"
    repo.mkdir(parents=True)
    sh(
        "dpkg-deb",
        "--root-owner-group",
        "-Zgzip",
        "--build",
        pkg,
        repo / f"{PACKAGE}_1.0_all.deb",
        stdout=subprocess.DEVNULL,
    )
    (repo / "Packages").write_text(
        sh("apt-ftparchive", "packages", ".", cwd=repo, capture_output=True, text=True).stdout
    )
    (base / "etc/apt/sources.list").write_text("deb [trusted=yes] file:/srv/repo ./\n")
    sh("chroot", base, "env", *(f"{k}={v}" for k, v in ENV.items()), *APT_GET, "update", stdout=subprocess.DEVNULL)


def direct_install(store: Path, work: Path) -> float:
    """apt-get install in a chroot of a writable snapshot of snapshot 0, with /proc and /dev mounted."""
    sh("btrfs", "subvolume", "snapshot", store / "rootfs/snapshot-0", work, stdout=subprocess.DEVNULL)
    try:
        with ExitStack() as mounts:
            for args, target in ((["-t", "proc", "proc"], "proc"), (["--rbind", "/dev"], "dev")):
                sh("mount", *args, work / target)
                mounts.callback(sh, "umount", "-R", work / target)
            env = [f"{k}={v}" for k, v in ENV.items()]
            return timed("chroot", work, "env", *env, *APT_GET, "install", "--", PACKAGE)
    finally:
        sh("btrfs", "subvolume", "delete", work, stdout=subprocess.DEVNULL)


def ash_install(ash: list[str]) -> float:
    """``ash install`` into a fresh clone of snapshot 0 (the clone is made and deleted untimed)."""
    sid = sh(*ash, "clone", "0", capture_output=True, text=True).stdout.strip()
    try:
        return timed(*ash, "install", sid, PACKAGE)
    finally:
        sh(*ash, "del", "-y", sid, stdout=subprocess.DEVNULL)


def main() -> None:
    args = arguments(__doc__, runs=7)
    with tempfile.TemporaryDirectory(prefix="ash-bench-") as tmp, ExitStack() as cleanup:
        tmp = Path(tmp)
        mnt = loop_btrfs(tmp, 4 << 30, cleanup)
        base, sysroot = mnt / "base", mnt / "sysroot"
        base.mkdir()
        make_base(args.base, base, tmp / "build")
        sh("btrfs", "subvolume", "create", sysroot, stdout=subprocess.DEVNULL)
        ash = [sys.executable, "-m", "ashcore", "--sysroot", os.fspath(sysroot)]
        sh(*ash, "init", "--from", base, stdout=subprocess.DEVNULL)
        store = sysroot / ".snapshots"
        ash_times, direct_times, startup = [], [], []
        for _ in range(args.runs):  # interleaved, so that drift in the machine's load hits both alike
            direct_times.append(direct_install(store, mnt / "direct"))
            ash_times.append(ash_install(ash))
            startup.append(timed(*ash, "tree"))
    ash_median, direct_median = statistics.median(ash_times), statistics.median(direct_times)
    print(
        json.dumps(
            {
                "package": PACKAGE,
                "runs": args.runs,
                "ash_install_s": {"median": round(ash_median, 3), "all": [round(t, 3) for t in ash_times]},
                "apt_get_in_chroot_s": {"median": round(direct_median, 3), "all": [round(t, 3) for t in direct_times]},
                "transaction_overhead_s": {
                    "difference_of_medians": round(ash_median - direct_median, 3),
                    "median_of_paired_differences": round(
                        statistics.median(a - d for a, d in zip(ash_times, direct_times, strict=True)), 3
                    ),
                },
                "ash_tree_s": round(statistics.median(startup), 3),  # a read-only command: Python and CLI start-up
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
