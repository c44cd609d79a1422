"""The installer: a new ash system on a partition of a disk (+ an EFI system partition), or in an image.

Steps, all on the target only:

1. check the target (a partition of the given disk, not in use, big enough; a FAT ESP for UEFI);
2. make the btrfs filesystem and the subvolumes ``@.snapshots``, ``@home``, ``@var``;
3. make snapshot 0 from the distro plugin's ``bootstrap`` (or a given root), then configure it in a
   transaction: fstab, host name, time zone, passwords, a user, the overlay, and ash itself;
4. deploy snapshot 0 (which writes the boot menu) and install the bootloader through its plugin.

While it works, the new filesystem is seen through a *sysroot view*: a directory at its top with the
shared subvolumes bind-mounted at ``.snapshots``, ``home`` and ``var``, exactly where a booted
system has them, so the store, deploy and the plugins work on it unchanged (:func:`open_system`).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

from . import btrfs, deploy, fstab, snapshots
from .chroot import Chroot
from .deploy import copy_into
from .disks import BlockDevice, GiB, Guard, check_tools, filesystem_type, partition_image
from .errors import AshError, UsageError
from .models import BootstrapOptions
from .run import run
from .system import System
from .tree import Tree

MIN_SIZE = 3 * GiB
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
SUBVOLUMES = {".snapshots": "@.snapshots", "home": "@home", "var": "@var"}
SITE = "/usr/lib/ash/site"  # where ash lives on an installed system
VIEW = ".ash-sysroot"  # the sysroot view, at the top of the filesystem while the installer works
ENCRYPTED_NAME = "ash-root"  # the name the opened encrypted root partition gets
#: What a distribution's base needs to boot from btrfs with GRUB (BIOS and UEFI) and to run ash.
BOOT_PACKAGES = {
    "debian": ("linux-image-amd64", "systemd-sysv", "udev", "initramfs-tools", "kmod", "btrfs-progs", "python3",
               "grub2-common", "grub-pc-bin", "grub-efi-amd64-bin"),
}  # fmt: skip
LAUNCHER = """#!/usr/bin/python3 -I
# ash, put here by 'ash setup'; its code and plugins are in /usr/lib/ash/site.
import sys

sys.path.insert(0, "/usr/lib/ash/site")
from ashcore.cli import main

main()
"""


@attrs.frozen
class Settings:
    """Every answer the installer needs (the CLI asks for what was not given as an option)."""

    distro: str = "debian"
    release: str | None = None
    mirror: str | None = None
    packages: tuple[str, ...] = ()
    source: Path | None = None
    overlay: Path | None = None
    hostname: str = "ash"
    timezone: str | None = None
    root_password: str = ""
    user: str | None = None
    user_password: str = ""
    cache_dir: Path | None = None
    passphrase: str | None = None  # encrypt the root partition with this passphrase


@attrs.frozen
class Target:
    """Where to install: the btrfs partition, its disk, and for UEFI the EFI system partition."""

    root: Path
    disk: Path
    esp: Path | None
    firmware: str

    @classmethod
    def check(cls, root: Path, disk: Path, esp: Path | None, firmware: str) -> Target:
        """Refuse, with a one-line reason, a target that is not what it is said to be or is in use."""
        if firmware not in ("bios", "uefi"):
            raise UsageError(f"unknown firmware {firmware!r}", hint="use bios or uefi")
        part, whole = BlockDevice.at(root), BlockDevice.at(disk)
        if whole.is_partition:
            raise UsageError(f"{disk} is a partition, not a disk")
        if not part.belongs_to(whole):
            raise UsageError(f"{root} is not a partition of {disk}")
        if firmware == "uefi" and esp is None:
            raise UsageError("UEFI needs an EFI system partition", hint="give it after the disk")
        if firmware == "bios" and esp is not None:
            raise UsageError("an EFI system partition is only for --firmware uefi")
        if esp is not None:
            efi = BlockDevice.at(esp)
            if not efi.belongs_to(whole):
                raise UsageError(f"{esp} is not a partition of {disk}", hint="the EFI system partition must be on the same disk")
            if efi.rdev == part.rdev:
                raise UsageError(f"{esp} is the partition to install on; the EFI system partition must be another")
            if filesystem_type(esp) != "vfat":
                raise UsageError(f"{esp} is not FAT-formatted", hint=f"format it first: mkfs.vfat -F 32 {esp}")
        # the disk's checks cover its partitions, the root and the EFI system partition among them
        if points := whole.mount_points():
            raise UsageError(f"{disk} is in use (mounted at {', '.join(points)})", hint="unmount it first")
        if holders := whole.holders():
            raise UsageError(f"{disk} is in use (held by {', '.join(holders)})", hint=f"see 'lsblk {disk}'; stop what uses it first")
        if part.size < MIN_SIZE:
            raise UsageError(f"{root} is too small ({part.size / GiB:.1f} GiB; at least {MIN_SIZE // GiB} GiB needed)")
        return cls(root, disk, esp, firmware)


# -- entry points ------------------------------------------------------------------------------


def preflight(system: System, settings: Settings) -> None:
    """Refuse settings that would fail only after minutes of work."""
    if not _HOSTNAME.fullmatch(settings.hostname):
        raise UsageError(f"{settings.hostname!r} is not a host name", hint="letters, digits and inner dashes, at most 63")
    deploy.require_bootloader(system)
    if settings.source is None:
        system.plugins.package_manager_for([settings.distro])
    if settings.passphrase is not None:
        if not settings.passphrase:
            raise UsageError("--encrypt needs a passphrase", hint="give --passphrase or ASH_PASSPHRASE")
        if not system.plugins.implementers("ash_encrypt"):
            raise AshError("encryption needs an encryption plugin, and none is installed", hint="install ash-luks")


@attrs.frozen
class Image:
    """A disk-image file to create and install into: msdos for BIOS, GPT with an ESP for UEFI."""

    path: Path
    size: int
    firmware: str

    @classmethod
    def check(cls, path: Path, size: int, firmware: str) -> Image:
        if firmware not in ("bios", "uefi"):
            raise UsageError(f"unknown firmware {firmware!r}", hint="use bios or uefi")
        if size < MIN_SIZE:
            raise UsageError(f"{size / GiB:.1f} GiB is too small for a system (at least {MIN_SIZE // GiB} GiB)")
        if os.path.lexists(path):
            raise UsageError(f"{path} already exists", hint="remove it or choose another file")
        if not path.parent.is_dir():
            raise UsageError(f"cannot create {path}: there is no directory {path.parent}", hint="create it first or choose another place")
        return cls(path, size, firmware)


def install_image(image: Image, settings: Settings) -> None:
    """Create ``image`` with its partitions and install into it; on failure the file is removed."""
    check_tools("sfdisk", "partx", "mkfs.btrfs", *(["mkfs.vfat", "mcopy"] if image.firmware == "uefi" else []))
    partition_image(image.path, image.size, image.firmware)
    try:
        with Guard() as guard:
            disk, parts = guard.attach(image.path)
            esp = parts[0] if image.firmware == "uefi" else None
            if esp is not None:
                run(["mkfs.vfat", "-F", "32", "-n", "ESP", esp], capture=True)
            _install(guard, Target(parts[-1], disk, esp, image.firmware), settings)
    except BaseException:
        image.path.unlink(missing_ok=True)
        raise


def install_device(target: Target, settings: Settings) -> None:
    check_tools("mkfs.btrfs", *(["mcopy"] if target.firmware == "uefi" else []))
    with Guard() as guard:
        _install(guard, target, settings)


@contextmanager
def open_system(device: Path) -> Iterator[Path]:
    """Mount the ash system on ``device`` (a partition, or a disk image whose last partition it is)
    as a sysroot view; yield its path, for ``ash --sysroot``. Everything is undone on exit."""
    with Guard() as guard:
        if device.is_file():
            device = guard.attach(device)[1][-1]
        yield _view(guard, device)


def _view(guard: Guard, device: Path) -> Path:
    top = guard.mount(device, guard.tempdir("ash-top-"), "subvolid=5")
    view = top / VIEW
    for path in (view, *(view / name for name in SUBVOLUMES)):
        path.mkdir(exist_ok=True)
        guard.callback(path.rmdir)  # each runs after what is mounted on or below it is gone
    for name, subvolume in SUBVOLUMES.items():
        guard.mount(top / subvolume, view / name, bind=True)
    return view


# -- the installation --------------------------------------------------------------------------


def _install(guard: Guard, target: Target, settings: Settings) -> None:
    device = target.root if settings.passphrase is None else _encrypt(target.root, settings.passphrase)
    run(["mkfs.btrfs", "--quiet", "--force", "--label", "ash", device], capture=True)
    top = guard.mount(device, guard.tempdir("ash-top-"), "subvolid=5")
    for subvolume in SUBVOLUMES.values():
        btrfs.create(top / subvolume)
    guard.callback(btrfs.syncfs, top)
    system = System(_view(guard, device))
    if settings.source is not None:
        snapshots.init(system.store, source=settings.source, distro=None)
    else:
        snapshots.init(system.store, source=None, distro=settings.distro, fill=_bootstrap(system, settings))
    with system.changing() as tree:
        with system.transaction(tree, 0) as chroot:
            _configure(system, chroot, settings, tree)
        deploy.deploy(system, tree, 0)
        ctx = deploy.context(system, tree, deploy.Deployments(system.store).load())
        system.plugins.call_all("ash_bootloader_install", context=ctx, disk=target.disk, firmware=target.firmware, esp=target.esp)


def _encrypt(partition: Path, passphrase: str) -> Path:
    """Format ``partition`` as an encrypted container through the encryption plugin and open it;
    the filesystem then goes on the opened device."""
    from .plugins import Plugins

    opened = Plugins.load().call_all("ash_encrypt", device=partition, passphrase=passphrase, name=ENCRYPTED_NAME)
    if opened is None or not Path(opened).exists():
        raise AshError(f"the encryption plugin did not open {partition}")
    return Path(opened)


def _bootstrap(system: System, settings: Settings):
    options = BootstrapOptions(
        distro=settings.distro,
        release=settings.release,
        mirror=settings.mirror,
        variant="minbase",
        packages=(*BOOT_PACKAGES.get(settings.distro, ()), *settings.packages),
        cache_dir=settings.cache_dir,
    )
    return snapshots.bootstrap_into(system, options)


def _configure(system: System, chroot: Chroot, settings: Settings, tree: Tree) -> None:
    """Make the new base a system of its own: everything here lands in snapshot 0."""
    root = chroot.root
    if settings.overlay is not None:
        copy_into(settings.overlay, root, replace=True)
    for point in SUBVOLUMES:
        (root / point).mkdir(exist_ok=True)
    layout = fstab.Layout.of(system.store.sysroot, system.store.path)
    (root / "etc/fstab").write_text(fstab.merge(fstab.read(root), layout.snapshot_lines()))
    (root / "etc/hostname").write_text(f"{settings.hostname}\n")
    (root / "etc/hosts").write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{settings.hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    if settings.timezone:
        if not (root / "usr/share/zoneinfo" / settings.timezone).is_file():
            raise UsageError(f"unknown time zone {settings.timezone!r}", hint="see /usr/share/zoneinfo")
        (root / "etc/localtime").unlink(missing_ok=True)
        (root / "etc/localtime").symlink_to(f"/usr/share/zoneinfo/{settings.timezone}")
        (root / "etc/timezone").write_text(f"{settings.timezone}\n")
    if settings.root_password:
        _chpasswd(chroot, "root", settings.root_password)
    if settings.user:
        _add_user(system, chroot, settings.user, settings.user_password)
    install_ash(system, chroot, tree)


def _chpasswd(chroot: Chroot, user: str, password: str) -> None:
    read, write = os.pipe()
    os.write(write, f"{user}:{password}\n".encode())
    os.close(write)
    try:
        chroot.run(["chpasswd"], stdin=read)
    finally:
        os.close(read)


def _add_user(system: System, chroot: Chroot, user: str, password: str) -> None:
    """A user whose home is on the shared ``@home`` (made from ``/etc/skel``), in the sudo group if any."""
    groups = (chroot.root / "etc/group").read_text()
    sudo = ["--groups", "sudo"] if "\nsudo:" in f"\n{groups}" else []
    chroot.run(["useradd", "--no-create-home", "--home-dir", f"/home/{user}", "--shell", "/bin/bash", *sudo, "--", user])
    if password:
        _chpasswd(chroot, user, password)
    uid, gid = next(line.split(":")[2:4] for line in (chroot.root / "etc/passwd").read_text().splitlines() if line.split(":")[0] == user)
    home = system.store.sysroot / "home" / user
    run(["cp", "-a", "--no-target-directory", chroot.root / "etc/skel", home])
    run(["chown", "-R", f"{uid}:{gid}", home])
    home.chmod(0o750)


# -- ash itself on the new system --------------------------------------------------------------


def install_ash(system: System, chroot: Chroot, tree: Tree) -> None:
    """Put ash, the plugins this system uses and their dependencies into ``/usr/lib/ash/site`` of the
    root behind ``chroot`` (replacing what was there), with a ``/usr/bin/ash`` launcher.

    They are pure-Python wheels: ash and the plugins built from the projects the running ash was
    installed from (else fetched by version), their dependencies fetched by the host's pip for the
    target's Python, then byte-compiled by the target's python3.
    """
    root, site = chroot.root, chroot.root / SITE.lstrip("/")
    python = _python_version(root)
    users = {system.package_manager_or_none(root, tree), *system.plugins.implementers("ash_bootloader_update")}
    wanted = sorted({"ashcore", *(r.distribution for r in system.plugins.records if r.name in users)})
    with Guard() as guard:
        wheels = guard.tempdir("ash-wheels-")
        sources = {name: _source_dir(name) for name in wanted}
        local = [path for path in sources.values() if path]
        if local:
            run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", wheels, *local], capture=True)
        pinned = [f"{name}=={_version(name)}" for name, path in sources.items() if not path]
        btrfs.ensure_absent(site)
        run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
             "--target", site, "--only-binary=:all:", "--python-version", python,
             *sorted(wheels.glob("*.whl")), *pinned], capture=True)  # fmt: skip
    launcher = root / "usr/bin/ash"
    launcher.write_text(LAUNCHER)
    launcher.chmod(0o755)
    chroot.run(["python3", "-m", "compileall", "-q", SITE])


def _python_version(root: Path) -> str:
    for candidate in ("usr/bin/python3", "bin/python3"):
        target = root / candidate
        if os.path.lexists(target):
            name = os.path.basename(os.readlink(target)) if target.is_symlink() else ""
            if name.startswith("python3."):
                return name.removeprefix("python")
    raise AshError("the new system has no python3, which ash needs", hint="include python3 in its packages")


def _source_dir(distribution: str) -> Path | None:
    """The local project directory a distribution was installed from (``pip install [-e] DIR``)."""
    from importlib import metadata

    for dist in metadata.distributions(name=distribution):  # an egg-info in the cwd may come first
        info = json.loads(dist.read_text("direct_url.json") or "null")
        if info and "dir_info" in info and info["url"].startswith("file://"):
            return Path(info["url"].removeprefix("file://"))
    return None


def _version(distribution: str) -> str:
    from importlib import metadata

    return metadata.version(distribution)

