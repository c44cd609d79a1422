"""ash's package-manager plugin for Debian and Ubuntu: apt-get and dpkg, run in a snapshot's chroot.

Every hook gets a transaction's working copy from the core; this module only says which apt
commands to run there and turns their failures into one line that says why. It stays import-light
(the CLI loads it on every start): the standard library and ashcore.api only.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Collection, Sequence
from itertools import pairwise, takewhile
from pathlib import Path
from typing import TYPE_CHECKING

from ashcore.api import (
    AshError,
    BootstrapOptions,
    CommandFailed,
    HealthCheck,
    Package,
    PackageManagerInfo,
    UsageError,
    copy_into,
    hookimpl,
    in_root,
    run,
)

from . import dpkgdb

if TYPE_CHECKING:
    from ashcore.api import Chroot


NAME = "apt"
#: Suite and mirror ``ash init --bootstrap DISTRO`` uses unless told otherwise.
BOOTSTRAP_DEFAULTS = {
    "debian": ("bookworm", "http://deb.debian.org/debian"),
    "ubuntu": ("jammy", "http://archive.ubuntu.com/ubuntu"),
}
#: What a base needs to boot from btrfs with GRUB (BIOS and UEFI) and to run ash (``bootable``).
BOOT_PACKAGES = (
    "linux-image-amd64",
    "systemd-sysv",
    "udev",
    "initramfs-tools",
    "kmod",
    "btrfs-progs",
    "python3",
    "grub2-common",
    "grub-pc-bin",
    "grub-efi-amd64-bin",
)
#: Nobody is there to answer a question, read a changelog or see a service restart.
ENV = {
    "DEBIAN_FRONTEND": "noninteractive",
    "DEBCONF_NONINTERACTIVE_SEEN": "true",
    "APT_LISTCHANGES_FRONTEND": "none",
    "NEEDRESTART_SUSPEND": "1",
}
APT_GET = (
    "apt-get",
    "--yes",
    "-o",
    "Dpkg::Use-Pty=0",  # plain progress lines; no /dev/pts needed
    "-o",
    "Dpkg::Options::=--force-confdef",  # a changed conffile: take the default action,
    "-o",
    "Dpkg::Options::=--force-confold",  # else keep the snapshot's own version; never ask
    "-o",
    "APT::Keep-Downloaded-Packages=false",  # no .deb archives left behind in the snapshot
    "-o",
    "APT::Update::Error-Mode=any",  # an index that cannot be fetched fails the refresh
)
POLICY_RC_D = "usr/sbin/policy-rc.d"
LISTS = "var/lib/apt/lists"  # apt's package indexes
POLICY = "#!/bin/sh\n# Written by ash for one transaction: start no services.\nexit 101\n"

# A Debian package name, then optionally apt's ":arch" and "=version" or "/release".
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?([=/][A-Za-z0-9.+~:-]+)?")
_PLAIN_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_WORD = re.compile(r"[a-z0-9][a-z0-9.-]*")
_MIRROR = re.compile(r"(https?|ftp|file):/\S+")
# apt's summary lines when the reason is elsewhere (dpkg's message, or the unmet dependencies).
_GENERIC = ("Sub-process /usr/bin/dpkg returned an error code", "Some index files failed", "Unable to correct problems")
_UNMET = ("Unable to correct problems", "Unmet dependencies")
_NO_REMOVE = "Packages need to be removed but remove is disabled"


@hookimpl
def ash_package_manager() -> PackageManagerInfo:
    return PackageManagerInfo(name=NAME, distros=("debian", "ubuntu"), state_paths=("var/lib/dpkg", "var/lib/apt"))


@hookimpl
def ash_bootstrap(target: Path, options: BootstrapOptions) -> None:
    """debootstrap a base into ``target``, then drop the downloaded archives (the cache dir keeps them)."""
    if options.distro not in BOOTSTRAP_DEFAULTS:
        raise AshError(f"the apt plugin bootstraps only {' and '.join(BOOTSTRAP_DEFAULTS)}, not {options.distro!r}")
    release, mirror = BOOTSTRAP_DEFAULTS[options.distro]
    release = _check(options.release or release, _WORD, "release")
    mirror = _check(options.mirror or mirror, _MIRROR, "mirror", hint="give a URL such as http://deb.debian.org/debian")
    argv = ["debootstrap"]
    if options.variant:
        argv.append(f"--variant={_check(options.variant, _WORD, 'variant')}")
    packages = (*(BOOT_PACKAGES if options.bootable else ()), *options.packages)
    if packages:
        argv.append("--include=" + ",".join(_check(p, _PLAIN_PACKAGE, "package name") for p in packages))
    if options.cache_dir:
        options.cache_dir.mkdir(parents=True, exist_ok=True)
        argv.append(f"--cache-dir={options.cache_dir.resolve()}")
    if shutil.which("debootstrap") is None:
        raise AshError("'debootstrap' not found", hint="install debootstrap on this machine")
    run([*argv, release, target, mirror])
    for deb in (target / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()


@hookimpl
def ash_install(chroot: Chroot, packages: Sequence[str]) -> None:
    _install(chroot, _names(packages))


@hookimpl
def ash_remove(chroot: Chroot, packages: Sequence[str]) -> None:
    names = _names(packages, installed={p.name for p in dpkgdb.installed(chroot.root)})
    apt_get(chroot, "remove", "--autoremove", "--", *names)


@hookimpl
def ash_upgrade(chroot: Chroot) -> None:
    apt_get(chroot, "update")
    # dist-upgrade rather than upgrade: upgrade holds back every package whose new version needs a
    # new package or the removal of one (each kernel ABI bump, library transitions), which would
    # leave the snapshot half upgraded. The whole upgrade is one transaction of a snapshot the user
    # can roll back, so taking apt's full solution is safe here where it is not on a live system.
    apt_get(chroot, "dist-upgrade")


@hookimpl
def ash_refresh(chroot: Chroot) -> None:
    apt_get(chroot, "update")


@hookimpl
def ash_list_packages(root: Path) -> list[Package]:
    return dpkgdb.installed(root)


@hookimpl
def ash_sync(chroot: Chroot, parent: Path, packages: Sequence[Package]) -> None:
    """Install the parent's exact versions, as the parent's package indexes know them: those are
    copied into the child first, so a child that never refreshed its own (or whose are older, after
    ``force-sync``) finds them without fetching any index. Sync only adds: apt refuses rather than
    remove a package of the child's own that conflicts (``--no-remove``)."""
    lists = in_root(parent, LISTS)
    if lists.is_dir():
        target = in_root(chroot.root, LISTS)
        target.mkdir(parents=True, exist_ok=True)
        copy_into(lists, target, replace=True)
    try:
        apt_get(chroot, "install", "--no-remove", "--", *(f"{p.name}={p.version}" for p in packages))
    except CommandFailed as exc:
        if not any(sign in exc.message for sign in ("was not found", "Failed to fetch")):
            raise
        hint = "the parent's version cannot be had from the archive (gone, or unreachable): 'ash sync' the tree"
        hint += ", which upgrades it"
        raise AshError(exc.message, hint=hint) from None


@hookimpl
def ash_health_checks() -> list[HealthCheck]:
    return [HealthCheck("dpkg database", _dpkg_audit, package_manager=NAME)]


def _dpkg_audit(chroot: Chroot) -> str | None:
    """``dpkg --audit`` finds no package half installed, half configured or missing its files."""
    proc = chroot.run(["dpkg", "--audit"], check=False, capture=True)
    found = (proc.stdout or "").strip()
    if proc.returncode == 0 and not found:
        return None
    return "dpkg --audit: " + (found.splitlines()[0] if found else f"exited with status {proc.returncode}")


@hookimpl
def ash_chroot_enter(chroot: Chroot) -> None:
    """Keep maintainer scripts from starting daemons in the chroot (policy-rc.d says 101, "forbidden"),
    unless the snapshot has its own policy; the file never reaches the committed snapshot."""
    if chroot.package_manager != NAME:
        return
    policy = in_root(chroot.root, POLICY_RC_D)
    try:  # O_EXCL: never replace (or follow) anything the snapshot already has there
        fd = os.open(policy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755)
    except (FileExistsError, FileNotFoundError):
        return
    with os.fdopen(fd, "w") as f:
        f.write(POLICY)

    def remove() -> None:  # unless the command put a policy of its own there meanwhile
        # Found again as the snapshot sees it now: the command may have replaced /usr/sbin (or /usr)
        # with a link to a host directory, through which the path found before would lead. The file
        # itself is opened without following a link: only ash's own regular file is removed.
        now = in_root(chroot.root, POLICY_RC_D.rpartition("/")[0]) / POLICY_RC_D.rpartition("/")[2]
        try:
            fd = os.open(now, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:  # gone, a link, or not ours to read
            return
        with os.fdopen(fd, "rb") as f:
            ours = stat.S_ISREG(os.fstat(f.fileno()).st_mode) and f.read(len(POLICY) + 1) == POLICY.encode()
        if ours:
            now.unlink()

    chroot.on_exit(remove)


def apt_get(chroot: Chroot, *args: str) -> None:
    """Run ``apt-get ARGS`` in the chroot, its output shown as it comes; on failure raise
    :class:`CommandFailed` carrying apt's (or dpkg's) own reason in one line."""
    argv = [*APT_GET, *args]
    proc = chroot.run(argv, check=False, env=ENV)
    if proc.returncode != 0:
        reason = _reason(proc.stderr)
        if reason and reason.startswith(_UNMET):
            reason = _listed(chroot, argv, "The following packages have unmet dependencies:") or reason
        elif reason and reason.startswith(_NO_REMOVE):
            removed = _listed(chroot, argv, "The following packages will be REMOVED:")
            reason = f"{reason.rstrip('.')}: {removed}" if removed else reason
        raise CommandFailed(argv, proc.returncode, reason or proc.stderr)


def _install(chroot: Chroot, names: list[str], *options: str) -> None:
    if not _has_indexes(chroot.root):
        apt_get(chroot, "update")  # a base made without indexes: fetch them rather than find nothing
    apt_get(chroot, "install", *options, "--", *names)


def _has_indexes(root: Path) -> bool:
    try:
        return any("_Packages" in entry.name for entry in os.scandir(in_root(root, LISTS)))
    except FileNotFoundError:
        return False


def _names(packages: Sequence[str], *, installed: Collection[str] | None = None) -> list[str]:
    """Refuse anything but package names. apt reads a trailing ``-`` as "remove" and a trailing ``+``
    as "install": refuse the first always, and the second in a removal (``installed`` given) unless
    it ends the name of an installed package (``g++``), which apt looks up first."""
    for name in packages:
        _check(name, _PACKAGE, "package name")
        if name.endswith("-") or (installed is not None and name.endswith("+") and name not in installed):
            raise UsageError(f"invalid package name {name!r}: apt would take its last character for an action")
    return list(packages)


def _check(value: str, pattern: re.Pattern[str], what: str, hint: str | None = None) -> str:
    if not pattern.fullmatch(value):
        raise UsageError(f"invalid {what} {value!r}", hint=hint)
    return value


def _reason(stderr: str) -> str | None:
    """The line of apt's or dpkg's stderr that says why it failed."""
    lines = stderr.splitlines()
    for line, detail in pairwise(lines):
        if line.startswith("dpkg: error processing "):
            return f"{line.removeprefix('dpkg: ').rstrip(':')}: {detail.strip()}"
    errors = [line.removeprefix("E: ") for line in lines if line.startswith("E: ")]
    return "; ".join([e for e in errors if not e.startswith(_GENERIC)] or errors) or None


def _listed(chroot: Chroot, argv: list[str], heading: str) -> str | None:
    """The list under ``heading`` that apt printed on stdout, which has streamed past (unmet
    dependencies, packages it would remove): ask a dry run for it."""
    out = chroot.run([argv[0], "--simulate", *argv[1:]], check=False, env=ENV, capture=True).stdout or ""
    _, _, rest = out.partition(heading + "\n")
    lines = takewhile(lambda line: line.startswith(" "), rest.splitlines())
    return "; ".join(" ".join(line.split()) for line in lines) or None
