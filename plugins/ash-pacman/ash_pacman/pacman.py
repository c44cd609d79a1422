"""Running pacman on a snapshot: inside its chroot when the snapshot has pacman, else the host's pacman
from outside with ``--root`` (a base being bootstrapped, or a root without pacman).

pacman exits 0 when an install scriptlet or a hook fails, and when it cannot run one at all because
the root has no ``/bin/sh``: it only says so on stderr. These are errors here, so that the working copy
is thrown away rather than committed as a half-configured snapshot.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from itertools import takewhile
from pathlib import Path
from typing import TYPE_CHECKING

from ashcore.api import AshError, Chroot, CommandFailed, in_root, read_os_release, run

from .rootfs import CONFIG, db_path, installed, options, rerooted

if TYPE_CHECKING:
    from ashcore.api import BootstrapOptions

PACMAN, PACMAN_KEY = "usr/bin/pacman", "usr/bin/pacman-key"
SCRIPTLET_FAILED = "error: command failed to execute correctly"
COMMIT_ABORTED = "Errors occurred, no packages were upgraded."
#: How the ":: " lines end that are no reason: steps ("Synchronizing package databases..."), the
#: questions pacman answers itself with --noconfirm ("Remove toolc? [y/N]") and list headings.
_NOT_REASONS = ("...", "[y/N]", "[Y/n]", ":")
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
    _checked(chroot.root, args, lambda: _run(chroot, args))


def _checked(root: Path, args: Sequence[str], start: Callable[[], subprocess.CompletedProcess[str]]) -> None:
    """Run pacman on ``root`` with ``start()``, its output shown as it comes and its stdout kept too;
    raise if it failed (pacman's reason in one line, paths as the snapshot sees them) or a scriptlet did."""
    with _kept_stdout() as out:
        proc = start()
    if proc.returncode != 0:
        reason = _reason(proc.stderr, "".join(out)).replace(f"{root}/", "/")  # the host's pacman: --root
        raise CommandFailed(["pacman", *args], proc.returncode, reason)
    check_scriptlets(root, proc.stderr)


@contextlib.contextmanager
def _kept_stdout() -> Iterator[list[str]]:
    """For the block, make ash's stdout (which the programs it runs write to) a pipe whose lines are
    shown as they come and kept in the list yielded: pacman says on stdout why it failed."""
    sys.stdout.flush()
    shown = os.fdopen(os.dup(1), "wb")
    read, write = os.pipe()
    os.dup2(write, 1)
    os.close(write)
    kept: list[str] = []

    def pump() -> None:
        with open(read, "rb") as pipe:
            for line in pipe:
                shown.write(line)
                shown.flush()
                kept.append(line.decode(errors="replace"))

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        yield kept
    finally:
        sys.stdout.flush()
        os.dup2(shown.fileno(), 1)  # closes the pipe's last write end: pump() reads to its end
        thread.join()
        shown.close()


def targets(chroot: Chroot, packages: Sequence[str]) -> dict[str, str]:
    """What ``pacman -S --needed PACKAGES`` would install (dependencies too): versions by name."""
    args = ("-Sp", "--needed", "--print-format", "%n %v", "--", *packages)
    proc = _run(chroot, args, capture=True)
    if proc.returncode != 0:
        raise CommandFailed(["pacman", *args], proc.returncode, _reason(proc.stderr, proc.stdout))
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.count(" ") == 1)


def check_database(chroot: Chroot) -> str | None:
    """``pacman -Dk``: every package's dependencies are installed and its files' owners agree."""
    proc = _run(chroot, ("-Dk",), capture=True)
    if proc.returncode == 0:
        return None
    return "pacman -Dk: " + _reason(proc.stderr, proc.stdout).strip()


def cache_file(chroot: Chroot, name: str) -> str:
    """The path by which pacman, where it runs on this snapshot (see :func:`_run`), reaches ``name`` in
    the shared package cache."""
    if in_root(chroot.root, PACMAN).exists():
        return f"{options(in_root(chroot.root, CONFIG))['CacheDir'].rstrip('/')}/{name}"
    return str(shared_cache(chroot) / name)


def _run(chroot: Chroot, args: Sequence[str], *, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """pacman in the chroot if the snapshot has it, else the host's pacman with its configuration."""
    root = chroot.root
    if in_root(root, PACMAN).exists():
        return chroot.run(["pacman", "--noconfirm", *args], check=False, capture=capture)
    if not in_root(root, CONFIG).exists():
        raise AshError(f"snapshot {chroot.snapshot} has neither pacman nor /{CONFIG}", hint="is it an Arch Linux root?")
    with tempfile.TemporaryDirectory(prefix="ash-pacman-") as tmp:
        config = Path(tmp, "pacman.conf")
        config.write_text(rerooted(in_root(root, CONFIG), root), encoding="utf-8")
        keyring = in_root(root, options(config)["GPGDir"])
        return host_pacman(root, config, args, cache=shared_cache(chroot), keyring=keyring, capture=capture)


def host_pacman(
    root: Path,
    config: Path,
    args: Sequence[str],
    *,
    cache: Path,
    keyring: Path | None = None,
    capture: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run the host's pacman on ``root`` with ``config``, whose paths are taken inside ``root``. The
    keyring is ``keyring``, or else the host's one that ``config`` names, as pacstrap does.
    """
    paths = options(config)
    db = in_root(root, paths["DBPath"])
    db.mkdir(parents=True, exist_ok=True)  # pacman refuses a root without its database directory
    argv: list[str | Path] = [
        "pacman",
        "--noconfirm",
        "--root",
        root,
        "--dbpath",
        db,
        "--cachedir",
        cache,
        "--config",
        config,
        "--hookdir",
        in_root(root, paths["HookDir"]),
        "--logfile",
        in_root(root, paths["LogFile"]),
    ]
    if keyring is not None:
        argv += ["--gpgdir", keyring]
    return run([*argv, *args], check=False, capture=capture, env={**os.environ, "LC_ALL": "C"})


def _reason(stderr: str, stdout: str) -> str:
    """pacman's reason for failing, in one line. Its last error names the step that failed ("failed
    to commit transaction (conflicting files)"); why is in an earlier error (a bad signature, a failed
    download) or on stdout: the ":: " lines of a failed preparation (not its steps, questions and
    headings: :data:`_NOT_REASONS`), and the lines a failed commit prints before
    :data:`COMMIT_ABORTED` (the first: "pkg: /path exists in filesystem (owned by x)")."""
    errors = [line.removeprefix("error: ") for line in stderr.splitlines() if line.startswith("error: ")]
    if not errors:
        return stderr
    lines = stdout.splitlines()
    if errors[-1].startswith("failed to prepare transaction"):
        why = [line[3:] for line in lines if line.startswith(":: ") and not line.rstrip().endswith(_NOT_REASONS)]
        return "; ".join(why) or errors[-1]
    if errors[-1].startswith("failed to commit transaction"):
        why = errors[:-1] + _commit_details(lines)
        return why[0] if why else errors[-1]
    return errors[-1]


def _commit_details(lines: list[str]) -> list[str]:
    """What a failed commit printed on stdout: the lines after pacman's last step ("checking for file
    conflicts...") and before :data:`COMMIT_ABORTED`."""
    if COMMIT_ABORTED not in lines:
        return []
    before = reversed(lines[: lines.index(COMMIT_ABORTED)])
    details = reversed(list(takewhile(lambda line: not line.endswith("..."), before)))
    return [line.removeprefix(":: ") for line in details if line.strip()]


def check_scriptlets(root: Path, stderr: str) -> None:
    """Raise if pacman reported a scriptlet or hook that failed or could not start (it exits 0 then)."""
    if SCRIPTLET_FAILED not in stderr:
        return
    if not in_root(root, "bin/sh").exists():
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
    cache = options(in_root(chroot.root, CONFIG))["CacheDir"]  # the snapshot's words: '..' stops at the sysroot
    return in_root(chroot.sysroot, cache) if chroot.sysroot else in_root(chroot.root, cache)


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
            config.write_text(f"[options]\nArchitecture = auto\nSigLevel = Required DatabaseOptional\n{servers}")
        args = ["-Sy", "--", *packages]
        _checked(target, args, lambda: host_pacman(target, config, args, cache=opts.cache_dir or Path(tmp, "pkg")))
        if not read_os_release(target):
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
    """Throw the snapshot's pacman keyring away and build it anew, then update its keyring packages
    (``*-keyring``) and fill it from them (for "invalid or corrupted package (PGP signature)" and
    unknown-key errors)."""
    if not in_root(chroot.root, PACMAN_KEY).exists():
        raise AshError(f"snapshot {chroot.snapshot} has no pacman-key, so no keyring to repair")
    # Deleted from inside the chroot, where no symbolic link in the snapshot can lead out of it.
    chroot.run(["rm", "-rf", "--", options(in_root(chroot.root, CONFIG))["GPGDir"]])
    init_keyring(chroot)  # from the keyrings installed: it checks the signatures of the new ones
    keyrings = [p.name for p in installed(chroot.root) if p.name.endswith("-keyring")]
    if keyrings:
        # Fetch the databases and install only the keyrings, as Arch advises for an outdated keyring
        # (they are keys alone); no --needed: an installed one is reinstalled, never skipped.
        pacman(chroot, "-Sy", "--", *keyrings)
        chroot.run(["pacman-key", "--populate"])
