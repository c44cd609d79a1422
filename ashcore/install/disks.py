"""Block devices, disk images and host mounts, for the installer and for working on an image.

Everything mounted or attached on the host goes through a :class:`Guard`: each step registers its
undo the moment it succeeds, and leaving the ``with`` block undoes them all in reverse order, on
success, error or Ctrl-C alike (unmounts, then ``partx -d``, retried while a partition is busy, and
``losetup -d``).

This host's kernel has no partition-table parsers, so partitions of a loop device are added from
user space with ``partx -a`` (``losetup -P`` would create none).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import attrs

from ..console import warn
from ..errors import AshError, UsageError
from ..process import missing_tool, output, run

GiB = 1 << 30
SYS_BLOCK = Path("/sys/class/block")


def parse_size(text: str) -> int:
    """``8G``, ``512M``, ``4096`` (bytes) -> bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": GiB, "T": 1 << 40}
    number = text.strip().upper().removesuffix("IB").removesuffix("B")
    try:
        if number and number[-1] in units:
            return int(float(number[:-1]) * units[number[-1]])
        return int(number)
    except (ValueError, OverflowError):  # OverflowError: "infG", "1e400M"
        raise UsageError(f"'{text}' is not a size", hint="write it like 8G or 512M") from None


# -- block devices -----------------------------------------------------------------------------


@attrs.frozen
class BlockDevice:
    """A block device node and what sysfs says about it."""

    path: Path

    @classmethod
    def at(cls, path: Path) -> BlockDevice:
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise UsageError(f"{path} does not exist") from None
        if not stat.S_ISBLK(mode):
            raise UsageError(f"{path} is not a block device")
        return cls(path)

    @property
    def rdev(self) -> int:
        return self.path.stat().st_rdev

    @property
    def sysfs(self) -> Path:
        return Path(f"/sys/dev/block/{os.major(self.rdev)}:{os.minor(self.rdev)}").resolve()

    @property
    def size(self) -> int:
        return int((self.sysfs / "size").read_text()) * 512

    @property
    def is_partition(self) -> bool:
        return (self.sysfs / "partition").exists()

    def partitions(self) -> list[Path]:
        """Device nodes of this disk's partitions."""
        return sorted(Path("/dev", p.parent.name) for p in self.sysfs.glob("*/partition"))

    def belongs_to(self, disk: BlockDevice) -> bool:
        return self.is_partition and self.sysfs.parent == disk.sysfs

    def mount_points(self) -> list[str]:
        """Where this device (or, for a disk, any of its partitions) is mounted or used as swap."""
        devices = {self.rdev, *(p.stat().st_rdev for p in self.partitions())}
        found = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                source = fields[fields.index("-") + 2]
                if _rdev(source) in devices:
                    found.append(fields[4].replace("\\040", " "))
        with open("/proc/swaps") as f:
            found += [line.split()[0] + " (swap)" for line in f.readlines()[1:] if _rdev(line.split()[0]) in devices]
        return found

    def holders(self, sys_block: Path = SYS_BLOCK) -> list[str]:
        """Kernel names of the devices built on this one or (for a disk) on its partitions: active
        LVM volumes, open encrypted containers, md arrays."""
        names = [self.sysfs.name, *(p.name for p in self.partitions())]
        return sorted({h.name for name in names for h in (sys_block / name / "holders").glob("*")})


def _rdev(path: str) -> int | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_rdev if stat.S_ISBLK(st.st_mode) else None


# -- partition tables --------------------------------------------------------------------------

#: sfdisk scripts: one bootable Linux partition (BIOS), or an EFI system partition and Linux (UEFI).
LAYOUTS = {
    "bios": "label: dos\nstart=2048, type=83, bootable\n",
    "uefi": "label: gpt\nstart=2048, size=200MiB, type=U, name=ESP\ntype=L, name=root\n",
}


def partition_image(image: Path, size: int, firmware: str) -> None:
    """Create the sparse file ``image`` of ``size`` bytes with the partition table for ``firmware``."""
    with open(image, "xb") as f:
        f.truncate(size)
    try:
        run(["sfdisk", "--quiet", "--wipe=always", image], input=LAYOUTS[firmware], capture=True)
    except BaseException:
        image.unlink()
        raise


# -- the guard ---------------------------------------------------------------------------------


class Guard(ExitStack):
    """An :class:`~contextlib.ExitStack` that attaches images and mounts, and always undoes them."""

    def tempdir(self, prefix: str = "ash-") -> Path:
        return Path(self.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))

    def attach(self, image: Path) -> tuple[Path, list[Path]]:
        """Attach a disk image to a loop device with its partitions; return the disk and partitions."""
        loop = Path(output(["losetup", "--find", "--show", image]).strip())
        self.callback(run, ["losetup", "--detach", loop], check=False)
        run(["partx", "--add", loop], capture=True)
        self.callback(forget_partitions, loop)
        parts = BlockDevice(loop).partitions()
        if not parts:
            raise AshError(f"{image} has no partitions")
        for _ in range(50):  # the nodes appear asynchronously (devtmpfs)
            if all(p.exists() for p in parts):
                break
            time.sleep(0.1)
        return loop, parts

    def mount(self, source: Path | str, target: Path, *options: str, bind: bool = False) -> Path:
        argv = ["mount", *(["--bind"] if bind else []), *(["-o", ",".join(options)] if options else []), source, target]
        run(argv, capture=True)
        self.callback(unmount, target)
        return target


def forget_partitions(loop: Path) -> None:
    """``partx -d``: remove the partitions of ``loop``; retry while one is busy (the kernel refuses
    while any process has it open: a ``blkid``, another ash's os-prober probing every partition).
    A partition left would outlive ``losetup -d`` on the free loop device, and the next image attached
    there could not have its own partitions added."""
    for attempt in range(40):
        left = BlockDevice(loop).partitions()
        if not left:
            return
        if attempt:
            time.sleep(0.25)
        run(["partx", "--delete", loop], capture=True, check=False)
    if left := BlockDevice(loop).partitions():
        warn(f"the partitions of {loop} ({', '.join(p.name for p in left)}) are busy and stay after it is detached")


def unmount(target: Path) -> None:
    """Unmount ``target``; retry while it is busy, then detach it lazily rather than leave it."""
    for _ in range(20):
        if run(["umount", target], capture=True, check=False).returncode == 0:
            return
        time.sleep(0.25)
    run(["umount", "--lazy", target], capture=True, check=False)


def filesystem_type(device: Path) -> str:
    """What ``blkid`` finds on ``device`` (probing it directly), or "" for nothing."""
    proc = run(["blkid", "--probe", "--match-tag", "TYPE", "--output", "value", device], capture=True, check=False)
    return proc.stdout.strip()


def check_tools(*tools: str) -> None:
    """Refuse to start work that needs a host program which is not installed."""
    for tool in tools:
        if shutil.which(tool) is None:
            raise missing_tool(tool)
