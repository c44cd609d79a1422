#!/usr/bin/env python3
"""ash beside snapper and the bare tools, on stores of 10, 1,000 and 5,000 snapshots (issue 15).

Run as root: ``PYTHONPATH=testing .venv/bin/python bench/speed.py`` (``--rounds N``, ``--sizes``,
``--ash PATH`` to time an ``ash`` already installed instead of a fresh one). It installs snapper
from Debian (``apt-get install snapper``) if it is missing, installs ash with every plugin of this
repository into a fresh virtual environment (not editable, byte-compiled: as a user gets it), makes
a btrfs filesystem on a loop-mounted sparse file and, in it,

* an ash store whose base is a busybox root, and a snapper configuration (``ashbench``, removed
  again at the end) of a subvolume holding the same busybox root: both grown to each size in turn,
  snapper's by writing its snapshots as ``snapper create`` does (``<N>/snapshot`` and ``<N>/info.xml``);
* an apt store (base: the Debian minbase tarball the ash-apt tests cache) and a pacman store (base:
  a busybox root with the host's pacman), each with a one-package local repository.

At each size every command is run ``--rounds`` times, interleaved (one of each in turn, so drift in
the load of this shared machine hits all alike); the table gives the median wall and CPU time
(user + system of the process and its children) and the ratio of ash to its anchor. Growth per
snapshot is the least-squares slope over the sizes. Memory is the maximum resident set size, from
GNU time. The aims of issue 15 (at 1,000 snapshots) are checked at the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from ash_testing.roots import busybox_tree, copy_programs
from core import install_ash  # bench/core.py

from ashcore.fs import btrfs
from ashcore.store.store import Store
from ashcore.store.tree import Snapshot

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("ASH_TEST_CACHE", "/var/cache/ash-tests"))
CONFIG = "ashbench"
PACKAGE = "benchpkg"
SNAPPER = ["snapper", "--no-dbus", "-c", CONFIG]


def sh(*argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([os.fspath(a) for a in argv], check=True, **kwargs)


def measure(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU time (ms) of one run; CPU counts the process and the children it waited for."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = (time.perf_counter() - start) * 1000
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err.read().decode(errors='replace')}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


def max_rss(argv: list[str], runs: int = 3) -> int:
    """The largest maximum resident set size (KiB) of ``runs`` runs, from GNU time: a small C program,
    so the figure is the command's own (a Python parent's would count in a forked child's)."""
    found = 0
    for _ in range(runs):
        out = sh("/usr/bin/time", "-f", "%M", *argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        found = max(found, int(out.stderr.strip().splitlines()[-1]))
    return found


class Pair:
    """One row: an ash command and the anchor it is measured against (None: a bare figure), each
    with what to do before every run (untimed)."""

    def __init__(self, name: str, ash: Callable[[], list[str]], anchor_name: str | None = None, anchor=None) -> None:
        self.name, self.ash, self.anchor_name, self.anchor = name, ash, anchor_name, anchor
        self.samples: dict[str, list[tuple[float, float]]] = {"ash": [], "anchor": []}
        self.after: list[Callable[[], None]] = []


def median(samples: list[tuple[float, float]], i: int) -> float:
    return statistics.median(s[i] for s in samples)


def snapper_setup(mnt: Path, base: Path) -> tuple[Path, Callable[[], None]]:
    """A snapper configuration of a subvolume holding ``base``; returns the subvolume and the undo."""
    defaults = Path("/etc/default/snapper")
    saved = defaults.read_text() if defaults.exists() else None
    volume = mnt / "snapper"
    btrfs.create(volume)
    sh("cp", "-a", f"{base}/.", volume)
    sh(*SNAPPER, "create-config", volume)

    def undo() -> None:
        Path(f"/etc/snapper/configs/{CONFIG}").unlink(missing_ok=True)
        if saved is not None:
            defaults.write_text(saved)

    return volume, undo


def snapper_grow(volume: Path, count: int) -> None:
    """Snapshots 1..count-1 of ``volume``, written as ``snapper create`` writes them (snapper numbers
    its snapshots from 1; its 0 is the live subvolume, as ash's 0 is its base)."""
    snaps = volume / ".snapshots"
    have = [int(p.name) for p in snaps.iterdir() if p.name.isdigit()]
    for n in range(max(have, default=0) + 1, count):
        (snaps / str(n)).mkdir()
        btrfs.snapshot(volume, snaps / str(n) / "snapshot", readonly=True)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        (snaps / str(n) / "info.xml").write_text(
            '<?xml version="1.0"?>\n<snapshot>\n  <type>single</type>\n'
            f"  <num>{n}</num>\n  <date>{stamp}</date>\n  <description>benchmark snapshot {n}</description>\n"
            "</snapshot>\n"
        )


def ash_grow(store: Store, count: int) -> None:
    """Snapshots up to ``count`` (trees of 100, as bench/core.py makes them), written through the store."""
    tree = store.load()
    for sid in range(max(tree.snapshots) + 1, count):
        parent = None if sid % 100 == 1 else (sid - 1 if sid % 3 else sid - 2)
        if parent is not None and parent not in tree:
            parent = None
        tree.add(Snapshot(id=sid, parent=parent, description=f"benchmark snapshot {sid}"))
        btrfs.snapshot(store.snapshot_path(0), store.snapshot_path(sid), readonly=True)
        tree[sid].transid = btrfs.content_transid(store.snapshot_path(sid))
    tree.next_id = max(tree.next_id, count)
    store.save(tree)


def booted(store: Store, sid: int) -> None:
    """The marker a booted deployment of ``sid`` carries, so that 'ash current' has an answer. (A
    deploy.json naming a deployment that is not there would have every changing command try, and
    fail, to rewrite a boot menu there is none of.)"""
    marker = store.sysroot / "usr/lib/ash/snapshot"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{sid}\n")


# -- the package managers -------------------------------------------------------------------------
def apt_base(base: Path, build: Path) -> Path | None:
    tarball = CACHE / "debian-bookworm-minbase.tar.zst"
    if not tarball.exists():
        return None
    base.mkdir(parents=True)
    apt_install = _bench_module("apt_install")
    apt_install.make_base(tarball, base, build)
    return base


def pacman_base(base: Path, build: Path) -> Path | None:
    if not shutil.which("pacman") or not shutil.which("repo-add"):
        return None
    conftest = _module("pacman_conftest", REPO / "plugins/ash-pacman/tests/conftest.py")
    dirs = ("etc/pacman.d", "tmp", "var/lib/pacman", "var/cache/pacman/pkg", "proc", "dev")
    busybox_tree(base, 'NAME="Arch Linux"\nID=arch\n', dirs=dirs)
    copy_programs(base, "pacman", "pacman-conf")
    repo = base / "srv/repo"
    repo.mkdir(parents=True)
    package = repo / f"{PACKAGE}-1.0-1-any.pkg.tar.gz"
    conftest.build_package(package, PACKAGE, "1.0-1", {f"usr/share/{PACKAGE}/data": "benchmark\n"})
    sh("repo-add", "-q", repo / "bench.db.tar.gz", package, capture_output=True)
    (base / "etc/pacman.conf").write_text(
        "[options]\nArchitecture = auto\nSigLevel = Never\n\n[bench]\nServer = file:///srv/repo\n"
    )
    with chroot_mounts(base):
        sh("chroot", base, "pacman", "--noconfirm", "-Sy", stdout=subprocess.DEVNULL)
    return base


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bench_module(name: str):
    return _module(name, Path(__file__).with_name(f"{name}.py"))


class chroot_mounts:
    """/proc and /dev in a root for a bare chroot (what a user types before chroot'ing by hand)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __enter__(self) -> None:
        (self.root / "proc").mkdir(exist_ok=True)
        (self.root / "dev").mkdir(exist_ok=True)
        sh("mount", "-t", "proc", "proc", self.root / "proc")
        sh("mount", "--rbind", "/dev", self.root / "dev")
        sh("mount", "--make-rslave", self.root / "dev")

    def __exit__(self, *exc) -> None:
        sh("umount", "-R", self.root / "dev")
        sh("umount", self.root / "proc")


def _apt_get() -> list[str]:
    from ash_apt.plugin import APT_GET, ENV  # what ash-apt runs, and with what environment

    return ["env", *(f"{k}={v}" for k, v in ENV.items()), *APT_GET, "install", "--", PACKAGE]


BARE = {
    "apt": _apt_get,
    "pacman": lambda: ["pacman", "--noconfirm", "-S", "--needed", "--", PACKAGE],  # as ash-pacman runs it
}


def install_pair(manager: str, ash: list[str], store: Store, work: Path) -> Pair:
    """``ash install`` into a fresh clone of 0 beside the bare package manager in a chroot of a
    writable snapshot of 0 with /proc and /dev mounted (the clone, the copy and the mounts untimed)."""
    state: dict = {}

    def ash_argv() -> list[str]:
        state["sid"] = sh(*ash, "clone", "0", capture_output=True, text=True).stdout.strip()
        return [*ash, "install", state["sid"], PACKAGE]

    def bare_argv() -> list[str]:
        btrfs.snapshot(store.snapshot_path(0), work, readonly=False)
        state["mounts"] = chroot_mounts(work)
        state["mounts"].__enter__()
        return ["chroot", os.fspath(work), *BARE[manager]()]

    bare = {"apt": "apt-get install", "pacman": "pacman -S"}[manager]
    pair = Pair(f"ash install ({manager})", ash_argv, f"{bare} in a chroot", bare_argv)

    def clean_ash() -> None:
        if "sid" in state:
            sh(*ash, "del", "-y", state.pop("sid"), stdout=subprocess.DEVNULL)

    def clean_bare() -> None:
        if "mounts" in state:
            state.pop("mounts").__exit__()
        btrfs.ensure_absent(work)

    pair.after = [clean_ash, clean_bare]
    return pair


# -- the run ------------------------------------------------------------------------------------
def fit(sizes: list[int], values: list[float]) -> float:
    """Least-squares slope, in ms per 1,000 snapshots."""
    mx, my = statistics.fmean(sizes), statistics.fmean(values)
    num = sum((x - mx) * (y - my) for x, y in zip(sizes, values, strict=True))
    den = sum((x - mx) ** 2 for x in sizes)
    return 1000 * num / den if den else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--install-rounds", type=int, default=5)
    parser.add_argument("--sizes", default="10,1000,5000")
    parser.add_argument("--ash", help="an installed ash to time (default: install one into a fresh venv)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if os.geteuid() != 0:
        sys.exit("bench/speed.py: run as root (it mounts a btrfs image and installs snapper)")
    if not shutil.which("snapper"):
        sh("apt-get", "install", "-y", "-q", "snapper", stdout=subprocess.DEVNULL)
    if not Path("/usr/bin/time").exists():
        sh("apt-get", "install", "-y", "-q", "time", stdout=subprocess.DEVNULL)
    load_before = os.getloadavg()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ash-speed-")))
        ash_bin = args.ash or install_ash(tmp / "venv")
        python = str(Path(ash_bin).with_name("python"))
        image, mnt = tmp / "fs.img", tmp / "mnt"
        mnt.mkdir()
        with open(image, "wb") as f:
            f.truncate(16 << 30)
        sh("mkfs.btrfs", "-q", image, capture_output=True)
        sh("mount", "-o", "loop", image, mnt)
        stack.callback(sh, "umount", mnt)
        base = busybox_tree(tmp / "root", "ID=benchos\n", applets=("sh", "true"))
        sysroot = mnt / "ash"
        btrfs.create(sysroot)
        ash = [ash_bin, "--sysroot", str(sysroot)]
        sh(*ash, "init", "--from", base, stdout=subprocess.DEVNULL)
        store = Store(sysroot)
        volume, undo = snapper_setup(mnt, base)
        stack.callback(undo)

        managers: dict[str, tuple[list[str], Store]] = {}
        for name, make in (("apt", apt_base), ("pacman", pacman_base)):
            root = make(tmp / f"{name}-base", tmp / f"{name}-build")
            if root is None:
                print(f"# {name}: skipped (no base: see bench/speed.py)", file=sys.stderr)
                continue
            sysroot_m = mnt / name
            btrfs.create(sysroot_m)
            argv = [ash_bin, "--sysroot", str(sysroot_m)]
            sh(*argv, "init", "--from", root, stdout=subprocess.DEVNULL)
            managers[name] = (argv, Store(sysroot_m))

        def ash_clone() -> list[str]:
            return [*ash, "clone", "1"]

        def snapper_create() -> list[str]:
            return [*SNAPPER, "create", "-d", "benchmark clone"]

        results: dict[int, list[Pair]] = {}
        rss: dict[int, dict[str, int]] = {}
        for size in sizes:
            ash_grow(store, size)
            booted(store, 1)  # 'ash current' prints 1, 'ash tree' marks it
            snapper_grow(volume, size)
            for _, mstore in managers.values():
                ash_grow(mstore, size)
            pairs = [
                Pair("ash tree", lambda: [*ash, "tree"], "snapper list", lambda: [*SNAPPER, "list"]),
                Pair(
                    "ash tree --json",
                    lambda: [*ash, "tree", "--json"],
                    "snapper --jsonout list",
                    lambda: [*SNAPPER, "--jsonout", "list"],
                ),
                Pair("ash current", lambda: [*ash, "current"], "snapper list", lambda: [*SNAPPER, "list"]),
                Pair("ash --help", lambda: [*ash, "--help"], "python -c pass", lambda: [python, "-c", "pass"]),
                Pair("ash clone 1", ash_clone, "snapper create", snapper_create),
                Pair(
                    "ash run 2 true",
                    lambda: [*ash, "run", "2", "true"],
                    "chroot snapshot-2 true",
                    lambda: ["chroot", str(store.snapshot_path(2)), "true"],
                ),
            ]
            before = set(store.load().snapshots)
            for _ in range(args.rounds):
                for pair in pairs:
                    pair.samples["ash"].append(measure(pair.ash()))
                    pair.samples["anchor"].append(measure(pair.anchor()))
            # what the clones made, untimed: the next size starts from the same shape
            made = sorted(set(store.load().snapshots) - before)
            if made:
                sh(*ash, "del", "-y", *map(str, made), stdout=subprocess.DEVNULL)
            for n in sorted(int(p.name) for p in (volume / ".snapshots").iterdir() if p.name.isdigit()):
                if n >= size:
                    sh(*SNAPPER, "delete", str(n))
            installs = [install_pair(m, argv, mstore, mnt / f"{m}-work") for m, (argv, mstore) in managers.items()]
            for _ in range(args.install_rounds):
                for pair in installs:
                    pair.samples["ash"].append(measure(pair.ash()))
                    pair.after[0]()
                    pair.samples["anchor"].append(measure(pair.anchor()))
                    pair.after[1]()
            results[size] = pairs + installs
            rss[size] = {"ash tree": max_rss([*ash, "tree"]), "snapper list": max_rss([*SNAPPER, "list"])}

    load_after = os.getloadavg()
    report(sizes, results, rss, args, load_before, load_after, managers)


def report(sizes, results, rss, args, load_before, load_after, managers) -> None:
    print(f"# ash beside snapper {snapper_version()}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"# load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (a shared machine)")
    print(f"# {args.rounds} interleaved rounds per size ({args.install_rounds} for install); median wall / CPU ms")
    print()
    print("| snapshots | command | ash wall / CPU | anchor | anchor wall / CPU | ratio wall / CPU |")
    print("|---|---|---|---|---|---|")
    for size in sizes:
        for pair in results[size]:
            a, b = pair.samples["ash"], pair.samples["anchor"]
            aw, ac, bw, bc = median(a, 0), median(a, 1), median(b, 0), median(b, 1)
            print(
                f"| {size:,} | {pair.name} | {aw:.0f} / {ac:.0f} | {pair.anchor_name} | {bw:.0f} / {bc:.0f} |"
                f" {aw / bw:.2f} / {ac / bc:.2f} |"
            )
    print("| | ash install (portage) | not measured: there is no portage plugin yet | | | |")
    if "apt" not in managers or "pacman" not in managers:
        print(f"| | (only {', '.join(managers) or 'no package manager'} measured for install) | | | | |")
    print()
    print("growth per 1,000 snapshots (least-squares slope of the median wall time, ms):")
    names = [p.name for p in results[sizes[0]]]
    for i, name in enumerate(names):
        ash_slope = fit(sizes, [median(results[s][i].samples["ash"], 0) for s in sizes])
        anchor_slope = fit(sizes, [median(results[s][i].samples["anchor"], 0) for s in sizes])
        print(f"  {name:26} {ash_slope:+7.1f}   {results[sizes[0]][i].anchor_name}: {anchor_slope:+7.1f}")
    print()
    print("max RSS (KiB):")
    for s, r in rss.items():
        ratio = r["ash tree"] / r["snapper list"]
        print(f"  {s:,}: ash tree {r['ash tree']}, snapper list {r['snapper list']} ({ratio:.2f}x)")
    if 1000 in results:
        print()
        print("aims at 1,000 snapshots:")
        row = {p.name: p for p in results[1000]}

        def w(name: str, who: str = "ash") -> float:
            return median(row[name].samples[who], 0)

        aims = [
            ("ash tree < snapper list", w("ash tree") < w("ash tree", "anchor")),
            ("ash tree --json < snapper --jsonout list", w("ash tree --json") < w("ash tree --json", "anchor")),
            ("ash current < snapper list", w("ash current") < w("ash current", "anchor")),
            ("ash clone < snapper create", w("ash clone 1") < w("ash clone 1", "anchor")),
            ("ash --help < 100 ms", w("ash --help") < 100),
            ("ash run N true < 120 ms", w("ash run 2 true") < 120),
        ]
        for m in managers:
            name = f"ash install ({m})"
            overhead = w(name) - w(name, "anchor")
            aims.append((f"{name} overhead < 0.3 s ({overhead:.0f} ms)", overhead < 300))
        ratio = rss[1000]["ash tree"] / rss[1000]["snapper list"]
        aims.append((f"ash tree max RSS within 1.5x of snapper's ({ratio:.2f}x)", ratio <= 1.5))
        for text, met in aims:
            print(f"  {'met    ' if met else 'NOT met'}  {text}")
    if 5000 in results:
        row = {p.name: p for p in results[5000]}
        met = median(row["ash tree"].samples["ash"], 0) < median(row["ash tree"].samples["anchor"], 0)
        print(f"  {'met    ' if met else 'NOT met'}  at 5,000: ash tree < snapper list")


def snapper_version() -> str:
    out = subprocess.run(["snapper", "--version"], capture_output=True, text=True).stdout
    return out.split()[1] if out else "?"


if __name__ == "__main__":
    main()
