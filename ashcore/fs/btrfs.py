"""The few btrfs operations ash needs: snapshots, deletion, the read-only flag, atomic exchange, sync."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import struct
import time
from pathlib import Path

from ..console import log_command
from ..errors import AshError
from ..process import output, run

_BTRFS_IOC_SUBVOL_GETFLAGS = 0x80089419
_BTRFS_IOC_SUBVOL_SETFLAGS = 0x4008941A
_BTRFS_IOC_SYNC = 0x9408  # _IO(0x94, 8): commit, then poke the transaction (and so the cleaner) thread
_BTRFS_IOC_FS_INFO = 0x8400941F  # _IOR(0x94, 31, struct btrfs_ioctl_fs_info_args), 1024 bytes
_FSID = slice(16, 32)  # after max_id and num_devices (two u64)
_BTRFS_IOC_SNAP_CREATE_V2 = 0x50009417  # _IOW(0x94, 23, struct btrfs_ioctl_vol_args_v2), 4096 bytes
_VOL_ARGS_V2 = struct.Struct("qQQ32x4040s")  # fd, transid, flags, (qgroup union), name
_BTRFS_IOC_GET_SUBVOL_INFO = 0x81F8943C  # _IOR(0x94, 60, struct btrfs_ioctl_get_subvol_info_args), 504 bytes
_UUID = slice(296, 312)  # after treeid, name[256], parent_id, dirid, generation, flags
_CTRANSID = 344  # after uuid, parent_uuid and received_uuid
_BTRFS_SUBVOL_RDONLY = 1 << 1
_FIRST_FREE_OBJECTID = 256  # the inode number of every subvolume's root directory
_AT_FDCWD = -100
_RENAME_EXCHANGE = 1 << 1

_libc = ctypes.CDLL(None, use_errno=True)
NOT_BTRFS_HINT = "ash keeps its snapshots on a btrfs filesystem: put the store on one"


def filesystem_type(path: Path) -> str:
    return output(["stat", "--file-system", "--format=%T", path]).strip()


def is_subvolume(path: Path) -> bool:
    try:
        return path.is_dir() and not path.is_symlink() and path.stat().st_ino == _FIRST_FREE_OBJECTID
    except OSError:
        return False


def create(path: Path) -> None:
    run(["btrfs", "subvolume", "create", path], capture=True)


def snapshot(source: Path, dest: Path, *, readonly: bool) -> None:
    """Snapshot ``source`` to ``dest`` (which must not exist); read-only snapshots are made so atomically.

    One ioctl, as ``btrfs subvolume snapshot`` makes it, without starting that program
    (``--debug`` still shows that command line).
    """
    log_command(["btrfs", "subvolume", "snapshot", *(["-r"] if readonly else []), str(source), str(dest)])
    try:
        src = os.open(source, os.O_RDONLY | os.O_DIRECTORY)
        try:
            args = _VOL_ARGS_V2.pack(src, 0, _BTRFS_SUBVOL_RDONLY if readonly else 0, os.fsencode(dest.name))
            _ioctl(dest.parent, _BTRFS_IOC_SNAP_CREATE_V2, bytearray(args))  # mutable: over 1024 bytes
        finally:
            os.close(src)
    except OSError as exc:
        raise AshError(f"cannot snapshot {source} to {dest}: {exc.strerror}") from None


def delete(path: Path) -> None:
    """Delete a subvolume and any subvolumes nested in it (a snapshot does not include those)."""
    for attempt in range(20):
        proc = run(["btrfs", "subvolume", "delete", path], capture=True, check=False)
        if proc.returncode == 0:
            return
        if "not empty" in proc.stderr.lower():
            for nested in _nested_subvolumes(path):
                delete(nested)
            continue
        if "busy" in proc.stderr.lower() and attempt < 19:
            time.sleep(0.1)  # a mount namespace that used it is still being torn down
            continue
        raise AshError(f"cannot delete subvolume {path}: {proc.stderr.strip().splitlines()[-1]}")


def wait_deleted(path: Path) -> None:
    """Wait until btrfs has freed the space of the subvolumes deleted on the filesystem of ``path``
    (it does so in the background, after ``delete`` returns)."""
    _ioctl(path, _BTRFS_IOC_SYNC, b"")  # commits, and wakes the cleaner (else it waits up to 30 s)
    run(["btrfs", "subvolume", "sync", path], capture=True, check=False)  # only ever a wait
    _ioctl(path, _BTRFS_IOC_SYNC, b"")  # their space is free once the transaction that freed it commits


def _nested_subvolumes(path: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, _ in os.walk(path):
        for name in list(dirnames):
            child = Path(dirpath, name)
            if is_subvolume(child):
                found.append(child)
                dirnames.remove(name)
    return found


def _ioctl(path: Path, request: int, arg: bytes | bytearray, *, dir_fd: int | None = None) -> bytes:
    """A btrfs ioctl on the directory ``path`` (relative to ``dir_fd``, when given)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY, dir_fd=dir_fd)
    try:
        return fcntl.ioctl(fd, request, arg)
    except OSError as exc:
        if exc.errno in (errno.ENOTTY, errno.EOPNOTSUPP):
            raise AshError(f"{path} is not on a btrfs filesystem", hint=NOT_BTRFS_HINT) from None
        raise
    finally:
        os.close(fd)


def is_readonly(path: Path) -> bool:
    return bool(struct.unpack("Q", _ioctl(path, _BTRFS_IOC_SUBVOL_GETFLAGS, bytes(8)))[0] & _BTRFS_SUBVOL_RDONLY)


def readonly_flags(directory: Path, names: list[str]) -> list[bool]:
    """:func:`is_readonly` of each subvolume ``directory/name``, opened relative to ``directory``
    (every changing command checks the flag of every snapshot: a store may hold thousands)."""
    if not names:
        return []
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        flags = []
        for name in names:
            try:
                raw = _ioctl(Path(name), _BTRFS_IOC_SUBVOL_GETFLAGS, bytes(8), dir_fd=dir_fd)
            except AshError:
                raise AshError(f"{directory / name} is not on a btrfs filesystem", hint=NOT_BTRFS_HINT) from None
            except OSError as exc:  # named as is_readonly() names it
                raise OSError(exc.errno, exc.strerror, os.fspath(directory / name)) from None
            flags.append(bool(struct.unpack("Q", raw)[0] & _BTRFS_SUBVOL_RDONLY))
        return flags
    finally:
        os.close(dir_fd)


def set_readonly(path: Path, readonly: bool) -> None:
    flags = struct.unpack("Q", _ioctl(path, _BTRFS_IOC_SUBVOL_GETFLAGS, bytes(8)))[0]
    flags = flags | _BTRFS_SUBVOL_RDONLY if readonly else flags & ~_BTRFS_SUBVOL_RDONLY
    _ioctl(path, _BTRFS_IOC_SUBVOL_SETFLAGS, struct.pack("Q", flags))


def fs_uuid(path: Path) -> str:
    """The UUID of the btrfs filesystem holding ``path`` (what ``root=UUID=`` and fstab name)."""
    import uuid  # it imports platform: only for the commands that need it

    return str(uuid.UUID(bytes=_ioctl(path, _BTRFS_IOC_FS_INFO, bytes(1024))[_FSID]))


def subvolume_uuid(path: Path) -> str:
    """The UUID of the subvolume at ``path``: a new one for every subvolume, so also for every
    snapshot a transaction commits in place of the old one."""
    import uuid

    return str(uuid.UUID(bytes=_ioctl(path, _BTRFS_IOC_GET_SUBVOL_INFO, bytes(504))[_UUID]))


def content_transid(path: Path) -> int:
    """The btrfs transaction that last changed the files of the subvolume at ``path`` (its
    ``ctransid``). A snapshot inherits it from its source, and being snapshotted or having its
    read-only flag set leaves it alone: only a change of its files moves it."""
    return int(struct.unpack_from("Q", _ioctl(path, _BTRFS_IOC_GET_SUBVOL_INFO, bytes(504)), _CTRANSID)[0])


def exchange(a: Path, b: Path) -> None:
    """Swap two paths in one atomic step (``renameat2(RENAME_EXCHANGE)``): a crash sees one or the other."""
    if _libc.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"exchange {a} and {b}: {os.strerror(err)}")


def syncfs(path: Path) -> None:
    """Flush the whole filesystem holding ``path`` to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)


def subvolume_path(path: Path) -> str:
    """The path of a subvolume relative to the filesystem's top level (what ``subvol=`` takes)."""
    first = output(["btrfs", "subvolume", "show", path]).splitlines()[0].strip()
    return "" if first in ("/", "<FS_TREE>") else first.lstrip("/")


def ensure_absent(path: Path) -> None:
    """Remove what a crash may have left at ``path``: a subvolume or a plain file/directory."""
    if is_subvolume(path):
        delete(path)
    elif path.is_dir():
        run(["rm", "-rf", "--one-file-system", path])
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
