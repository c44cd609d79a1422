"""Run one command chrooted into a directory, inside private mount and PID namespaces.

ash starts this file as its own process (``python3 -I -S script.py SPEC-JSON``); it uses the
standard library only, so it starts fast. The layout of what it builds:

    this process          unshare(NEWNS|NEWPID|NEWUTS|NEWIPC), makes every mount private, forks, waits
     └─ PID 1 (new ns)    mounts /proc, /sys, /dev, /run, /tmp, the binds and resolv.conf, moves the
         │                root over "/" (the host's files are gone from the namespace), then shuts
         │                itself in an empty directory, forks, reaps
         └─ command       chroot()s back into the root and execs the command

Every mount exists only in the new mount namespace, so nothing is ever left mounted on the host, and
nothing in the namespace can reach the host's files (not even through ``/proc/1/root``, which shows
the empty directory; that it differs from ``/`` also tells tools like ``ischroot`` that they run in a
chroot). The host's name and System V IPC are not shared either, and ``/sys`` and ``/proc/sys`` are
read-only. ``/dev`` is the host's, because installing a bootloader needs the disks; ``/dev/shm`` is
private.
Each process dies with its parent (PR_SET_PDEATHSIG), and the kernel kills everything in a PID
namespace when its PID 1 dies, so a SIGKILL'ed ash leaves no process behind in the snapshot either.
Exit status: the command's, or 128+N when it was killed by signal N, or 127 if it could not start.
"""

import ctypes
import json
import os
import signal
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID = 0x00020000, 0x04000000, 0x08000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
INIT_DIR = "/run/.ash-sandbox"  # where PID 1 shuts itself in (in the private /run)
PR_SET_PDEATHSIG = 1

libc = ctypes.CDLL(None, use_errno=True)


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(value):
    return None if value is None else os.fsencode(value)


def mount(source, target, fstype, flags, data=None):
    _check(libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), f"mount {target}")


def die_with_parent(parent):
    """Get SIGKILL when the parent dies; ``parent=None`` for PID 1, whose parent is outside its namespace."""
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
    if parent is not None and os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(137)


def exit_status(status):
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _dir(root, rel):
    path = os.path.join(root, rel.lstrip("/"))
    os.makedirs(path, exist_ok=True)
    return path


def setup_mounts(spec):
    root = spec["root"]
    mount(root, root, None, MS_BIND | MS_REC)  # the root is a mount point, as pacman and others expect
    mount("proc", _dir(root, "proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _readonly_bind(_dir(root, "proc/sys"), _dir(root, "proc/sys"))
    mount("sysfs", _dir(root, "sys"), "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("/dev", _dir(root, "dev"), None, MS_BIND | MS_REC)
    mount("tmpfs", _dir(root, "dev/shm"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    mount("tmpfs", _dir(root, "run"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    mount("tmpfs", _dir(root, "tmp"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for source, target, readonly in spec.get("binds", []):
        dest = os.path.join(root, target.lstrip("/"))
        if os.path.isdir(source):
            os.makedirs(dest, exist_ok=True)
        elif not os.path.exists(dest):
            continue  # never create files in the snapshot just to mount over them
        if readonly:
            _readonly_bind(source, dest)
        else:
            mount(source, dest, None, MS_BIND | MS_REC)
    _resolv_conf(root)


def _readonly_bind(source, dest):
    mount(source, dest, None, MS_BIND | MS_REC)
    mount(None, dest, None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def enter_root(root):
    """Make ``root`` the namespace's "/" (the host's tree is gone from it), then shut this process
    in an empty directory; return a descriptor of the root, for the command to chroot back into."""
    os.chdir(root)
    mount(".", "/", None, MS_MOVE)
    os.chroot(".")
    root_fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    os.makedirs(INIT_DIR, mode=0o700, exist_ok=True)
    os.chroot(INIT_DIR)
    os.chdir("/")
    return root_fd


def _resolv_conf(root):
    """Give the chroot the host's name servers without changing the snapshot's /etc/resolv.conf."""
    host = "/etc/resolv.conf"
    if not os.path.exists(host):
        return
    target = os.path.join(root, "etc/resolv.conf")
    if os.path.islink(target):
        link = os.readlink(target)
        resolved = os.path.normpath(os.path.join("/etc", link))
        if resolved.startswith("/run/"):  # lives in our private /run tmpfs
            os.makedirs(os.path.dirname(root + resolved), exist_ok=True)
            with open(host, "rb") as src, open(root + resolved, "wb") as dst:
                dst.write(src.read())
    elif os.path.isfile(target):
        _readonly_bind(host, target)


def run_command(spec, root_fd):
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTOU, signal.SIGTTIN):
        signal.signal(sig, signal.SIG_DFL)
    os.fchdir(root_fd)
    os.chroot(".")
    os.chdir("/")
    os.close(root_fd)
    argv, env = spec["argv"], spec["env"]
    program = find_program(argv[0], env.get("PATH", ""))
    try:
        os.execve(program, argv, env)
    except OSError as exc:
        sys.stderr.write(f"ash: cannot run {argv[0]!r} in the snapshot: {exc.strerror}\n")
        os._exit(127)


def find_program(name, search_path):
    """Look ``name`` up in ``search_path`` (by hand: after chroot() Python cannot import anything)."""
    if "/" in name:
        return name
    for directory in search_path.split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return name


def init_process(spec):
    """PID 1 of the new namespace: mount, start the command, reap, pass its exit status on."""
    die_with_parent(None)
    try:
        setup_mounts(spec)
        root_fd = enter_root(spec["root"])
    except OSError as exc:
        print(f"ash: cannot prepare the chroot: {exc}", file=sys.stderr)
        os._exit(126)
    me = os.getpid()
    child = os.fork()
    if child == 0:
        die_with_parent(me)
        for fd in spec.get("close_fds", []):
            os.close(fd)
        run_command(spec, root_fd)
    os.close(root_fd)
    while True:
        pid, status = os.wait()
        if pid == child:
            os._exit(exit_status(status))


def main():
    spec = json.loads(sys.argv[1])
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTOU, signal.SIGTTIN):
        signal.signal(sig, signal.SIG_IGN)  # the terminal's signals are for the command, not for us
    _check(libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC), "unshare")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    pid = os.fork()
    if pid == 0:
        init_process(spec)
    _, status = os.waitpid(pid, 0)
    sys.exit(exit_status(status))


if __name__ == "__main__":
    main()
