#!/usr/bin/env python3
"""What an automatic update costs over a plain upgrade: ``ash auto-upgrade`` (clone the deployed
snapshot, upgrade it, run the health checks, deploy it) beside ``ash upgrade`` of a clone of the same
snapshot (the clone made untimed), each upgrading the same package to a version newly published in
a repository served on 127.0.0.1.
Prints JSON.

Usage (as root, with ashcore, ash-apt and ash-grub installed): ``python3 bench/auto_upgrade.py
[--runs N]``. The base is the Debian minbase tarball the ash-apt tests cache, given a dummy kernel
(GRUB's menu is written, nothing boots it); all of it lives on a loop btrfs that is removed again.
"""

from __future__ import annotations

import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path

from apt_install import PACKAGE, arguments, loop_btrfs, make_base, sh, timed


def publish(repo: Path, version: str, build: Path) -> None:
    """Put ``PACKAGE`` ``version`` into the local repository (replacing the older one) and index it."""
    pkg = build / f"{PACKAGE}-{version}"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "usr/share" / PACKAGE).mkdir(parents=True)
    (pkg / "usr/share" / PACKAGE / "data").write_text(f"benchmark {version}\n")
    (pkg / "DEBIAN/control").write_text(
        f"Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: bench <b@example.invalid>\nDescription: bench\n"
    )
    for old in repo.glob("*.deb"):
        old.unlink()
    sh("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", pkg, repo / f"{PACKAGE}_{version}_all.deb",
       stdout=subprocess.DEVNULL)  # fmt: skip
    index = sh("apt-ftparchive", "packages", ".", cwd=repo, capture_output=True, text=True).stdout
    (repo / "Packages").write_text(index)


def serve(directory: Path, cleanup: ExitStack) -> str:
    """Serve ``directory`` over HTTP on 127.0.0.1 until ``cleanup`` closes; return its URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw) -> None:
            super().__init__(*a, directory=os.fspath(directory), **kw)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cleanup.callback(server.shutdown)
    return f"http://127.0.0.1:{server.server_address[1]}/"


def main() -> None:
    args = arguments(__doc__, runs=5)
    with tempfile.TemporaryDirectory(prefix="ash-bench-") as tmp, ExitStack() as cleanup:
        tmp = Path(tmp)
        mnt = loop_btrfs(tmp, 8 << 30, cleanup)
        base, sysroot = mnt / "base", mnt / "sysroot"
        base.mkdir()
        make_base(args.base, base, tmp / "build")
        for name in ("vmlinuz-6.1.0-9-amd64", "initrd.img-6.1.0-9-amd64"):
            (base / "boot" / name).write_text("a dummy: GRUB's menu names it, nothing boots it\n")
        repo = tmp / "repo"  # served over HTTP, so that a new version needs no change of a snapshot
        repo.mkdir()
        publish(repo, "1.0", tmp / "build")
        url = serve(repo, cleanup)
        (base / "etc/apt/sources.list").write_text(f"deb [trusted=yes] {url} ./\n")
        sh("btrfs", "subvolume", "create", sysroot, stdout=subprocess.DEVNULL)
        ash = [sys.executable, "-m", "ashcore", "--sysroot", os.fspath(sysroot)]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        sh(*ash, "init", "--from", base, **quiet)
        deployed = sh(*ash, "clone", "0", capture_output=True, text=True).stdout.strip()
        sh(*ash, "refresh", deployed, **quiet)
        sh(*ash, "install", deployed, PACKAGE, **quiet)
        sh(*ash, "deploy", deployed, **quiet)
        plain, auto = [], []
        for run in range(args.runs):  # interleaved: drift in the machine's load hits both alike
            publish(repo, f"1.{run + 1}", tmp / "build")
            current = json.loads(sh(*ash, "current", "--json", capture_output=True, text=True).stdout)["deployed"]
            clone = sh(*ash, "clone", str(current), capture_output=True, text=True).stdout.strip()
            plain.append(timed(*ash, "upgrade", clone))
            sh(*ash, "del", "-y", clone, **quiet)
            auto.append(timed(*ash, "auto-upgrade"))
    p, a = statistics.median(plain), statistics.median(auto)
    result = {
        "package": PACKAGE,
        "runs": args.runs,
        "ash_upgrade_s": {"median": round(p, 3), "all": [round(t, 3) for t in plain]},
        "ash_auto_upgrade_s": {"median": round(a, 3), "all": [round(t, 3) for t in auto]},
        "auto_upgrade_overhead_s": round(a - p, 3),
        "what_the_overhead_is": "the clone, the health checks in a throwaway copy, the deploy and the record",
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
