"""Running pacman on a snapshot: inside its chroot when the snapshot has pacman, else the host's pacman
from outside with ``--root`` (a base being bootstrapped, or a root without pacman).

pacman exits 0 when an install scriptlet or a hook fails, and when it cannot run one at all because
the root has no ``/bin/sh``: it only says so on stderr. These are errors here, so that the working copy
is thrown away rather than committed as a half-configured snapshot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ashcore import osrelease
from ashcore.chroot import Chroot
from ashcore.errors import AshError, CommandFailed
from ashcore.run import run

from .rootfs import CONFIG, db_path, in_root, options, rerooted

if TYPE_CHECKING:
    from ashcore.models import BootstrapOptions

PACMAN, PACMAN_KEY = "usr/bin/pacman", "usr/bin/pacman-key"
SCRIPTLET_FAILED = "error: command failed to execute correctly"
#: What ``ash init --bootstrap arch`` installs from where, unless told otherwise.
DEFAULT_MIRROR = "https://geo.mirror.pkgbuild.com/$repo/os/$arch"
REPOSITORIES = ("core", "extra")
BASE = "base"


def pacman(chroot: Chroot, *args: str) -> None:
    """Run ``pacman --noconfirm ARGS`` on the snapshot behind ``chroot``; raise :class:`AshError` if it
    fails, with pacman's own reason in one line, or if a scriptlet failed although pacman exited 0."""
    # A transaction works on a fresh copy of its snapshot under ash's store lock, and a crash throws
    # that copy away: no pacman can be running on it, so a db.lck there is stale (left by a pacman
    # killed in an 'ash chroot' whose shell still exited 0, or imported with the snapshot). Left in
    # place it would make every pacman run fail with "unable to lock database".
    (db_path(chroot.root) / "db.lck").unlink(missing_ok=True)
    proc = _run(chroot, args)
    if proc.returncode != 0:
        raise CommandFailed(
            ["pacman", *args], proc.returncode, _reason(proc, lambda: _run(chroot, args, quiet=True))
        )
    check_scriptlets(chroot.root, proc.stderr)


def _run(chroot: Chroot, args: Sequence[str], *, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    """pacman in the chroot if the snapshot has it (stdout then streams past: ``stdout`` is None unless
    ``quiet``), else the host's pacman with the snapshot's configuration."""
    root = chroot.root
    if (root / PACMAN).exists():
        return chroot.run(["pacman", "--noconfirm", *args], check=False, capture=quiet)
    if not (root / CONFIG).exists():
        raise AshError(
            f"snapshot {chroot.snapshot} has neither pacman nor /{CONFIG}", hint="is it an Arch Linux root?"
        )
    with tempfile.TemporaryDirectory(prefix="ash-pacman-") as tmp:
        config = Path(tmp, "pacman.conf")
        config.write_text(rerooted(root / CONFIG, root), encoding="utf-8")
        keyring = in_root(root, options(config)["GPGDir"])
        return host_pacman(root, config, args, cache=shared_cache(chroot), keyring=keyring, quiet=quiet)


def host_pacman(
    root: Path,
    config: Path,
    args: Sequence[str],
    *,
    cache: Path,
    keyring: Path | None = None,
    quiet: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run the host's pacman on ``root`` with ``config``, whose paths are taken inside ``root``. The
    keyring is ``keyring``, or else the host's one that ``config`` names, as pacstrap does. Its output
    streams to the user unless ``quiet`` (then it is captured, stdout included).
    """
    paths = options(config)
    db = in_root(root, paths["DBPath"])
    db.mkdir(parents=True, exist_ok=True)  # pacman refuses a root without its database directory
    argv = [
        "pacman", "--noconfirm", "--root", root, "--dbpath", db, "--cachedir", cache, "--config", config,
        "--hookdir", in_root(root, paths["HookDir"]), "--logfile", in_root(root, paths["LogFile"]),
    ]  # fmt: skip
    if keyring is not None:
        argv += ["--gpgdir", keyring]
    return run([*argv, *args], check=False, capture=quiet, env={**os.environ, "LC_ALL": "C"})


def _reason(
    proc: subprocess.CompletedProcess[str],
    again: Callable[[], subprocess.CompletedProcess[str]] | None = None,
) -> str:
    """pacman's reason for failing, in one line. It names the error on stderr ("failed to prepare
    transaction (could not satisfy dependencies)") and says why on stdout; when that streamed past,
    ``again()`` runs the command once more with stdout captured: a transaction that failed to
    prepare changed nothing, and fails the same way."""
    errors = [line.removeprefix("error: ") for line in proc.stderr.splitlines() if line.startswith("error: ")]
    if not errors:
        return proc.stderr
    if errors[-1].startswith("failed to prepare transaction"):
        out = proc.stdout if proc.stdout is not None or again is None else again().stdout
        why = [
            line[3:]
            for line in (out or "").splitlines()
            if line.startswith(":: ") and not line.endswith("...")
        ]
        if why:
            return "; ".join(why)
    return errors[-1]


def check_scriptlets(root: Path, stderr: str) -> None:
    """Raise if pacman reported a scriptlet or hook that failed or could not start (it exits 0 then)."""
    if SCRIPTLET_FAILED not in stderr:
        return
    if not (root / "bin/sh").exists():
        raise AshError(
            "pacman could not run a package's install scriptlet: the root has no /bin/sh",
            hint="install a shell first (bash, or busybox linked as /bin/sh); nothing was kept",
        )
    raise AshError(
        "a package's install scriptlet or a pacman hook failed, although pacman exited 0",
        hint="pacman's messages above say which; nothing was kept",
    )


def shared_cache(chroot: Chroot) -> Path:
    """The host directory that serves as the snapshot's package cache: ``<sysroot>/<CacheDir>``, shared
    by every snapshot so that nothing is downloaded twice and no snapshot keeps package files. A root
    outside a store keeps its own cache."""
    cache = options(chroot.root / CONFIG)["CacheDir"]
    return chroot.sysroot / cache.lstrip("/") if chroot.sysroot else in_root(chroot.root, cache)


def sync_flags(root: Path) -> str:
    """``-S``, or ``-Syu`` for a snapshot that has no sync databases yet (an Arch bootstrap tarball):
    fetching them without upgrading would be a partial upgrade, which Arch does not support."""
    return "-S" if any((db_path(root) / "sync").glob("*.db")) else "-Syu"


def bootstrap(target: Path, opts: BootstrapOptions) -> None:
    """pacstrap-like: install ``base`` and ``opts.packages`` into the empty ``target`` with the host's
    pacman, then initialise the new root's keyring.

    ``opts.mirror`` is a ``Server`` URL for the core and extra repositories (default: Arch's
    worldwide mirror), or the path of a whole pacman.conf (repositories, servers, SigLevel) as with
    ``pacstrap -C``. Packages are checked against the host's pacman keyring.
    """
    packages = list(dict.fromkeys((BASE, *opts.packages)))
    mirror = opts.mirror or DEFAULT_MIRROR
    with tempfile.TemporaryDirectory(prefix="ash-pacman-") as tmp:
        given = Path(mirror).is_file()
        config = Path(mirror) if given else Path(tmp, "pacman.conf")
        if not given:
            servers = "".join(f"\n[{repo}]\nServer = {mirror}\n" for repo in REPOSITORIES)
            config.write_text(
                f"[options]\nArchitecture = auto\nSigLevel = Required DatabaseOptional\n{servers}"
            )
        proc = host_pacman(target, config, ["-Sy", "--", *packages], cache=opts.cache_dir or Path(tmp, "pkg"))
        if proc.returncode != 0:
            raise CommandFailed(["pacman", "-Sy", *packages], proc.returncode, _reason(proc))
        check_scriptlets(target, proc.stderr)
        if not osrelease.read(target):
            raise AshError(
                "the new base has no /etc/os-release",
                hint="its packages must include 'filesystem' (part of 'base')",
            )
        if not (target / CONFIG).exists():  # pacman itself is not in the base: keep what it was made with
            shutil.copyfile(config, target / CONFIG)
        elif not given:  # pacman's own pacman.conf reads its servers from the mirror list
            mirrorlist = target / "etc/pacman.d/mirrorlist"
            mirrorlist.parent.mkdir(parents=True, exist_ok=True)
            mirrorlist.write_text(f"Server = {mirror}\n")
    if (target / PACMAN_KEY).exists():
        init_keyring(Chroot(root=target, snapshot=None))


def init_keyring(chroot: Chroot) -> None:
    """Create the snapshot's pacman keyring and fill it from every keyring package it has installed."""
    chroot.run(["pacman-key", "--init"])
    chroot.run(["pacman-key", "--populate"])  # no names: every keyring in its keyring directory


def fix_keyring(chroot: Chroot) -> None:
    """Throw the snapshot's pacman keyring away and build it anew (for "invalid or corrupted package
    (PGP signature)" and unknown-key errors)."""
    if not (chroot.root / PACMAN_KEY).exists():
        raise AshError(f"snapshot {chroot.snapshot} has no pacman-key, so no keyring to repair")
    # Deleted from inside the chroot, where no symbolic link in the snapshot can lead out of it.
    chroot.run(["rm", "-rf", "--", options(chroot.root / CONFIG)["GPGDir"]])
    init_keyring(chroot)
