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

Ash itself is copied in by :mod:`ashcore.install.selfcopy`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

from ..boot import deploy, menu
from ..console import error_message, size_text, warn
from ..errors import AshError, UsageError
from ..fs import btrfs, fstab
from ..fs.files import copy_into, free_bytes, in_root, write_in
from ..hooks.records import BootstrapOptions, Firmware
from ..ops import snapshots
from ..ops.system import System
from ..process import run
from ..sandbox.chroot import Chroot
from ..store.tree import Tree
from .disks import BlockDevice, GiB, Guard, check_tools, filesystem_type, partition_image
from .selfcopy import UNIT_DIR, install_ash

MIN_SIZE = 3 * GiB
#: The free space the host needs where a disk image (sparse, up to its size) is made.
IMAGE_ROOM = 2 * GiB
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SUBVOLUMES = {".snapshots": "@.snapshots", "home": "@home", "var": "@var"}
VIEW = ".ash-sysroot"  # the sysroot view, at the top of the filesystem while the installer works
ENCRYPTED_NAME = "ash-root"  # the name the opened encrypted root partition gets


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
    ash_files: dict[str, str] = attrs.field(factory=dict)  # what comes with ash besides its code: ash(8)


@attrs.frozen
class Target:
    """Where to install: the btrfs partition, its disk, and for UEFI the EFI system partition."""

    root: Path
    disk: Path
    esp: Path | None
    firmware: Firmware

    @classmethod
    def check(cls, root: Path, disk: Path, esp: Path | None, firmware: str) -> Target:
        """Refuse, with a one-line reason, a target that is not what it is said to be or is in use."""
        kind = parse_firmware(firmware)
        part, whole = BlockDevice.at(root), BlockDevice.at(disk)
        if whole.is_partition:
            raise UsageError(f"{disk} is a partition, not a disk")
        if not part.belongs_to(whole):
            raise UsageError(f"{root} is not a partition of {disk}")
        if kind == Firmware.UEFI and esp is None:
            raise UsageError("UEFI needs an EFI system partition", hint="give it after the disk")
        if kind == Firmware.BIOS and esp is not None:
            raise UsageError("an EFI system partition is only for --firmware uefi")
        if esp is not None:
            efi = BlockDevice.at(esp)
            if not efi.belongs_to(whole):
                raise UsageError(
                    f"{esp} is not a partition of {disk}", hint="the EFI system partition must be on the same disk"
                )
            if efi.rdev == part.rdev:
                raise UsageError(f"{esp} is the partition to install on; the EFI system partition must be another")
            if filesystem_type(esp) != "vfat":
                raise UsageError(f"{esp} is not FAT-formatted", hint=f"format it first: mkfs.vfat -F 32 {esp}")
        # the disk's checks cover its partitions, the root and the EFI system partition among them
        if points := whole.mount_points():
            raise UsageError(f"{disk} is in use (mounted at {', '.join(points)})", hint="unmount it first")
        if holders := whole.holders():
            raise UsageError(
                f"{disk} is in use (held by {', '.join(holders)})", hint=f"see 'lsblk {disk}'; stop what uses it first"
            )
        if part.size < MIN_SIZE:
            raise UsageError(f"{root} is too small ({part.size / GiB:.1f} GiB; at least {MIN_SIZE // GiB} GiB needed)")
        return cls(root, disk, esp, kind)


def parse_firmware(name: str) -> Firmware:
    try:
        return Firmware(name)
    except ValueError:
        raise UsageError(f"unknown firmware {name!r}", hint=f"use {' or '.join(Firmware)}") from None


# -- entry points ------------------------------------------------------------------------------


def preflight(system: System, settings: Settings) -> None:
    """Refuse settings that would fail only after minutes of work."""
    if not _HOSTNAME.fullmatch(settings.hostname):
        raise UsageError(
            f"{settings.hostname!r} is not a host name", hint="letters, digits and inner dashes, at most 63"
        )
    if settings.user == "root":
        raise UsageError(
            "--user root: root is there already", hint="give --root-password for root, --user for another user"
        )
    if settings.user is not None and not _USER.fullmatch(settings.user):
        raise UsageError(
            f"{settings.user!r} is not a user name",
            hint="a lower-case letter or '_', then those, digits or '-'; at most 32",
        )
    for whose, password in (
        ("the root password", settings.root_password),
        (f"the password of {settings.user}", settings.user_password),
    ):
        if password and _CONTROL.search(password):
            raise UsageError(
                f"{whose} contains a control character (such as a newline)",
                hint="a password is one line of printable characters",
            )
    system.plugins.require_bootloader()
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
    firmware: Firmware

    @classmethod
    def check(cls, path: Path, size: int, firmware: str) -> Image:
        kind = parse_firmware(firmware)
        if size < MIN_SIZE:
            raise UsageError(f"{size / GiB:.1f} GiB is too small for a system (at least {MIN_SIZE // GiB} GiB)")
        if os.path.lexists(path):
            raise UsageError(f"{path} already exists", hint="remove it or choose another file")
        if not path.parent.is_dir():
            raise UsageError(
                f"cannot create {path}: there is no directory {path.parent}",
                hint="create it first or choose another place",
            )
        free = free_bytes(path.parent)
        if free < min(size, IMAGE_ROOM):
            raise AshError(
                f"only {size_text(free)} are free in {path.parent}, too little for a system"
                f" (at least {size_text(min(size, IMAGE_ROOM))})",
                hint="free space there or put the image elsewhere",
            )
        if free < size:
            warn(f"the image may grow to {size_text(size)}, and only {size_text(free)} are free in {path.parent}")
        return cls(path, size, kind)


def install_image(system: System, image: Image, settings: Settings) -> None:
    """Create ``image`` with its partitions and install into it; on failure the file is removed."""
    check_tools("sfdisk", "partx", "mkfs.btrfs", *(["mkfs.vfat", "mcopy"] if image.firmware == Firmware.UEFI else []))
    partition_image(image.path, image.size, image.firmware)
    try:
        with Guard() as guard:
            disk, parts = guard.attach(image.path)
            esp = parts[0] if image.firmware == Firmware.UEFI else None
            if esp is not None:
                run(["mkfs.vfat", "-F", "32", "-n", "ESP", esp], capture=True)
            target = Target(parts[-1], disk, esp, image.firmware)
            _install(system, guard, _format(system, target.root, settings), target, settings)
    except BaseException:
        image.path.unlink(missing_ok=True)
        raise


def install_device(system: System, target: Target, settings: Settings) -> None:
    """Install onto the target's partition; a failure once it is formatted says it was erased."""
    check_tools("mkfs.btrfs", *(["mcopy"] if target.firmware == Firmware.UEFI else []))
    with Guard() as guard:
        device = _format(system, target.root, settings)
        try:
            _install(system, guard, device, target, settings)
        except (AshError, OSError) as error:
            raise AshError(
                f"{target.root} was erased and the installation is incomplete: {error_message(error)}",
                hint=getattr(error, "hint", None),
            ) from error


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


def _format(system: System, partition: Path, settings: Settings) -> Path:
    """Make the btrfs filesystem on ``partition`` (encrypted if asked); return its device."""
    device = partition if settings.passphrase is None else _encrypt(system, partition, settings.passphrase)
    run(["mkfs.btrfs", "--quiet", "--force", "--label", "ash", device], capture=True)
    return device


def _install(installing: System, guard: Guard, device: Path, target: Target, settings: Settings) -> None:
    top = guard.mount(device, guard.tempdir("ash-top-"), "subvolid=5")
    for subvolume in SUBVOLUMES.values():
        btrfs.create(top / subvolume)
    guard.callback(btrfs.syncfs, top)
    system = installing.with_sysroot(_view(guard, device))
    if settings.source is not None:
        snapshots.init(system.store, source=settings.source, distro=None)
    else:
        snapshots.init(system.store, source=None, distro=settings.distro, fill=_bootstrap(system, settings))
    with system.changing() as tree:
        with system.transaction(tree, 0) as chroot:
            _configure(system, chroot, settings, tree)
        deploy.deploy(system.plugins, system.store, tree, 0)
        ctx = menu.context(system.store, tree, system.store.deployments.load())
        system.plugins.bootloader_install(ctx, target.disk, target.firmware, target.esp)


def _encrypt(system: System, partition: Path, passphrase: str) -> Path:
    """Format ``partition`` as an encrypted container through the encryption plugin and open it;
    the filesystem then goes on the opened device."""
    opened = system.plugins.encrypt(partition, passphrase, ENCRYPTED_NAME)
    if opened is None or not opened.exists():
        raise AshError(f"the encryption plugin did not open {partition}")
    return opened


def _bootstrap(system: System, settings: Settings) -> Callable[[Path], None]:
    options = BootstrapOptions(
        distro=settings.distro,
        release=settings.release,
        mirror=settings.mirror,
        variant="minbase",
        packages=settings.packages,
        cache_dir=settings.cache_dir,
        bootable=True,
    )
    return snapshots.bootstrap_into(system, options)


def _configure(system: System, chroot: Chroot, settings: Settings, tree: Tree) -> None:
    """Make the new base a system of its own: everything here lands in snapshot 0."""
    root = chroot.root
    if settings.overlay is not None:
        copy_into(settings.overlay, root, replace=True)
    # The bootstrapped root's links lead within it (in_root, write_in), never to the host's files.
    for point in SUBVOLUMES:
        in_root(root, point).mkdir(exist_ok=True)
    layout = fstab.Layout.of(system.store.sysroot, system.store.path)
    write_in(root, "etc/fstab", fstab.merge(fstab.read(root), layout.snapshot_lines()))
    write_in(root, "etc/hostname", f"{settings.hostname}\n")
    write_in(
        root,
        "etc/hosts",
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{settings.hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    )
    if settings.timezone:
        if not in_root(root, f"usr/share/zoneinfo/{settings.timezone}").is_file():
            raise UsageError(f"unknown time zone {settings.timezone!r}", hint="see /usr/share/zoneinfo")
        localtime = in_root(root, "etc") / "localtime"
        localtime.unlink(missing_ok=True)
        localtime.symlink_to(f"/usr/share/zoneinfo/{settings.timezone}")
        write_in(root, "etc/timezone", f"{settings.timezone}\n")
    if settings.root_password:
        _chpasswd(chroot, "root", settings.root_password)
    if settings.user:
        _add_user(system, chroot, settings.user, settings.user_password)
    install_ash(system, chroot, tree, settings.ash_files)
    wants = in_root(root, "etc/systemd/system/timers.target.wants")  # the update timer, enabled
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "ash-auto-upgrade.timer").unlink(missing_ok=True)
    (wants / "ash-auto-upgrade.timer").symlink_to(f"/{UNIT_DIR}/ash-auto-upgrade.timer")


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
    groups = in_root(chroot.root, "etc/group").read_text()
    sudo = ["--groups", "sudo"] if "\nsudo:" in f"\n{groups}" else []
    chroot.run(
        ["useradd", "--no-create-home", "--home-dir", f"/home/{user}", "--shell", "/bin/bash", *sudo, "--", user]
    )
    if password:
        _chpasswd(chroot, user, password)
    uid, gid = next(
        line.split(":")[2:4]
        for line in in_root(chroot.root, "etc/passwd").read_text().splitlines()
        if line.split(":")[0] == user
    )
    home = system.store.sysroot / "home" / user
    run(["cp", "-a", "--no-target-directory", in_root(chroot.root, "etc/skel"), home])
    run(["chown", "-R", f"{uid}:{gid}", home])
    home.chmod(0o750)
