"""Run one command chrooted into a directory, inside private mount and PID namespaces.

ash runs this file's :func:`run_forked` in a child it forks, which is what the command
``python3 -I -S script.py FD`` does (the specification, in :mod:`marshal`'s format, is in the file
open at descriptor FD) without a second interpreter's start; it uses the standard library only, and
of it nothing but built-in modules and ctypes. The layout of what it builds:

    this process          unshare(NEWNS|NEWPID|NEWUTS|NEWIPC), makes every mount private, forks, waits
     └─ PID 1 (new ns)    mounts /proc, /sys, /dev, /run, /tmp, the binds and resolv.conf, moves the
         │                root over "/" (the host's files are gone from the namespace), shuts itself in
         │                an empty directory, drops the capabilities the command may not have, forks, reaps
         └─ command       chroot()s back into the root and execs the command

Every mount exists only in the new mount namespace, so nothing is ever left mounted on the host, and
nothing in the namespace can reach the host's files (not even through ``/proc/1/root``, which shows
the empty directory; that it differs from ``/`` also tells tools like ``ischroot`` that they run in a
chroot). The host's name and System V IPC are not shared either (the command can read the name but not
set it: that needs CAP_SYS_ADMIN). Every mount point and bind target is looked up in the root as the
command will see it (``inside``: the snapshot's links are followed within it), so a link in a snapshot
cannot point the sandbox's own mounts, made before the chroot, at the host.

What the command gets is what systemd-nspawn gives a container, less what reaches past the sandbox
when there is no user namespace, device cgroup or seccomp filter to stop it:

* ``/dev`` is a tmpfs with the host's ``null``, ``zero``, ``full``, ``random``, ``urandom`` and ``tty``
  bound into it, a private ``pts`` (a new devpts instance, ``ptmx`` a link to ``pts/ptmx``), a private
  ``shm`` and ``mqueue``, the ``fd``/``stdin``/``stdout``/``stderr`` links, and ``console``: the
  command's terminal, if it has one. No disk, partition or loop device is there unless the caller
  names it (``devices``): bound as it is, or read-only (a read-only loop device over it, so neither
  a write nor a filesystem's journal replay reaches it), and optionally mounted read-only too, for a
  tool that reads filesystems but may not mount them itself (os-prober). Every other mount, the
  root included, is ``nodev``: a device node in the snapshot opens nothing.
* ``/sys`` and ``/proc/sys`` are read-only, as are ``/proc``'s hardware directories (``acpi``, ``bus``,
  ``fs``, ``irq``, ``scsi``, ...); ``kcore``, ``kallsyms``, ``keys``, ``sysrq-trigger`` and
  ``timer_list`` show an empty file. Without CAP_SYS_ADMIN none of it can be unmounted or remounted.
* The capability bounding set (and the permitted, effective and inheritable sets of PID 1 and the
  command) is ``KEPT``: systemd-nspawn's default set without CAP_SYS_ADMIN (mount, and with it every
  other escape), CAP_MKNOD (device nodes), CAP_DAC_READ_SEARCH (open_by_handle_at, which opens any
  file of the store's filesystem, other snapshots included), CAP_SYS_BOOT (kexec_load) and
  CAP_AUDIT_CONTROL (the host's audit rules). CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_NET_ADMIN,
  CAP_SYS_TIME, CAP_BPF and the rest are not in nspawn's set either. The ambient set is cleared.
  PID 1 drops them too, so a command may ptrace it but gains nothing by it.
  ``no_new_privs`` is not set (nor by nspawn): it limits nothing the bounding set does not, since no
  exec can raise a capability above it, and it would break sudo and other set-user-ID programs a
  user of ``ash chroot`` runs after ``su`` to another user.

Each process dies with its parent (PR_SET_PDEATHSIG), and the kernel kills everything in a PID
namespace when its PID 1 dies, so a SIGKILL'ed ash leaves no process behind in the snapshot either.
Exit status: the command's, or 128+N when it was killed by signal N, or 127 if it could not start.
"""

import ctypes
import marshal
import os
import signal
import struct
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID = 0x00020000, 0x04000000, 0x08000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_SYNCHRONOUS = 1, 2, 4, 8, 16
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_MOVE, MS_REC = 32, 1024, 2048, 4096, 8192, 16384
MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
MNT_DETACH = 2
INIT_DIR = "/run/.ash-sandbox"  # where PID 1 shuts itself in (in the private /run)
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 1, 24, 47, 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522

#: The capabilities a command keeps (see the docstring): systemd-nspawn's default set without
#: CAP_SYS_ADMIN (21), CAP_MKNOD (27), CAP_DAC_READ_SEARCH (2), CAP_SYS_BOOT (22), CAP_AUDIT_CONTROL (30).
KEPT = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_BROADCAST": 11,
    "CAP_NET_RAW": 13,
    "CAP_IPC_OWNER": 15,
    "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TTY_CONFIG": 26,
    "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29,
    "CAP_SETFCAP": 31,
}
#: The device nodes of every sandbox's /dev, bound from the host's.
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
    "ptmx": "pts/ptmx",
}
TTY_GID = 5  # the "tty" group of Debian, Arch and systemd (nspawn's TTY_GID)
#: What of /proc shows an empty file instead, and what is read-only (as systemd-nspawn does).
PROC_HIDDEN = ("kallsyms", "kcore", "keys", "sysrq-trigger", "timer_list")
PROC_READ_ONLY = ("acpi", "apm", "asound", "bus", "fs", "irq", "scsi", "sys")
#: Options that keep a read-only mount from replaying a journal (it would fail on a read-only device).
NO_REPLAY = {"ext3": "noload", "ext4": "noload", "xfs": "norecovery", "btrfs": "rescue=nologreplay"}
DRIVERS = {"ntfs": ("ntfs3", "ntfs")}  # blkid's name of a filesystem, the kernel's drivers for it
LOOP_CTL_GET_FREE, LOOP_CONFIGURE, LO_FLAGS_READ_ONLY, LO_FLAGS_AUTOCLEAR = 0x4C82, 0x4C0A, 1, 4

libc = ctypes.CDLL(None, use_errno=True)
libc.ioctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)


def _check(ret, what):
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


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


def inside(root, rel):
    """``rel`` as a process chrooted at ``root`` sees it: links on the way (absolute ones too) are
    followed within ``root`` and ``..`` stops at it (as ``ashcore.fs.files.in_root``). Everything the
    sandbox mounts into the root is found this way, never through a link of the snapshot to the host."""
    todo, done, links = [p for p in rel.split("/") if p], [], 0
    while todo:
        part = todo.pop(0)
        if part in (".", ".."):
            done = done[:-1] if part == ".." else done
            continue
        candidate = os.path.join(root, *done, part)
        if not os.path.islink(candidate):
            done.append(part)
            continue
        links += 1
        if links > 40:
            raise OSError(40, f"too many levels of symbolic links: {candidate}")
        target = os.readlink(candidate)
        if target.startswith("/"):
            done = []
        todo = [p for p in target.split("/") if p] + todo
    return os.path.join(root, *done)


def _dir(root, rel):
    path = inside(root, rel)
    os.makedirs(path, exist_ok=True)
    return path


def _file(path, mode=0o644):
    """An empty file at ``path`` (in a tmpfs of ours) to bind a node or file over."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, mode))
    return path


def setup_mounts(spec):
    """Everything below the root (still at its host path); returns what must stay open (read-only
    loop devices) and the filesystems to mount once the root is "/"."""
    root = spec["root"]
    mount(root, root, None, MS_BIND | MS_REC)  # the root is a mount point, as pacman and others expect
    _remount(root, MS_NODEV)
    mount("tmpfs", _dir(root, "run"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    _proc(root)
    mount("sysfs", _dir(root, "sys"), "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    held, mounts = _dev(root, spec.get("devices", []))
    mount("tmpfs", _dir(root, "tmp"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for source, target, readonly in spec.get("binds", []):
        dest = inside(root, target)
        if os.path.isdir(source):
            os.makedirs(dest, exist_ok=True)
        elif not os.path.exists(dest):
            continue  # never create files in the snapshot just to mount over them
        mount(source, dest, None, MS_BIND | MS_REC)
        _remount(dest, MS_NODEV | (MS_RDONLY if readonly else 0))
    _resolv_conf(root)
    return held, mounts


def _remount(path, flags):
    """Add ``flags`` to the bind mount at ``path``, keeping the flags it has."""
    have = os.statvfs(path).f_flag
    for st, ms in (
        (os.ST_RDONLY, MS_RDONLY),
        (os.ST_NOSUID, MS_NOSUID),
        (os.ST_NODEV, MS_NODEV),
        (os.ST_NOEXEC, MS_NOEXEC),
        (os.ST_SYNCHRONOUS, MS_SYNCHRONOUS),
        (os.ST_NOATIME, MS_NOATIME),
        (os.ST_NODIRATIME, MS_NODIRATIME),
        (os.ST_RELATIME, MS_RELATIME),
    ):
        if have & st:
            flags |= ms
    mount(None, path, None, MS_REMOUNT | MS_BIND | flags)


def _readonly_bind(source, dest):
    mount(source, dest, None, MS_BIND | MS_REC)
    _remount(dest, MS_RDONLY)


def _proc(root):
    """A /proc of the new PID namespace; what reaches the host's kernel in it read-only or hidden."""
    proc = _dir(root, "proc")
    mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    scratch = _dir(root, "run/.ash-hidden")  # a tmpfs of its own, gone again once bound
    mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0000,size=4k")
    empty = _file(os.path.join(scratch, "empty"), 0)
    for name in PROC_HIDDEN:
        if os.path.isfile(os.path.join(proc, name)):
            _readonly_bind(empty, os.path.join(proc, name))
    _check(libc.umount2(_b(scratch), MNT_DETACH), "umount")
    os.rmdir(scratch)
    for name in PROC_READ_ONLY:
        path = os.path.join(proc, name)
        if os.path.isdir(path) and not os.path.islink(path):
            _readonly_bind(path, path)


def _dev(root, devices):
    """A /dev of bound nodes on a tmpfs (as systemd-nspawn's), and the devices the caller named."""
    dev = _dir(root, "dev")
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=0755,size=4m")
    for name in DEV_NODES:
        if os.path.exists(f"/dev/{name}"):
            mount(f"/dev/{name}", _file(os.path.join(dev, name), 0o666), None, MS_BIND)
    for name, target in DEV_LINKS.items():
        os.symlink(target, os.path.join(dev, name))
    mount(
        "devpts",
        _dir(dev, "pts"),
        "devpts",
        MS_NOSUID | MS_NOEXEC,
        f"newinstance,ptmxmode=0666,mode=0620,gid={TTY_GID}",
    )
    mount("tmpfs", _dir(dev, "shm"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    try:
        mount("mqueue", _dir(dev, "mqueue"), "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:  # a kernel without POSIX message queues
        os.rmdir(os.path.join(dev, "mqueue"))
    terminal = _terminal()
    if terminal is not None:
        console = _file(os.path.join(dev, "console"), 0o600)
        try:
            mount(terminal, console, None, MS_BIND)
        except OSError:  # a terminal whose node this namespace cannot see: no console then
            os.unlink(console)
    held, mounts = [], []
    for path, readonly, point, fstype in devices:
        source = path
        if readonly:
            fd, number = _readonly_loop(path)
            held.append(fd)
            source = f"/dev/loop{number}"
        mount(source, _file(os.path.join(dev, os.path.relpath(path, "/dev")), 0o600), None, MS_BIND)
        if point is not None:
            mounts.append((path, point, fstype))
    return held, mounts


def _terminal():
    """The terminal of the command (its stdin, stdout or stderr), to be its /dev/console."""
    for fd in (0, 1, 2):
        try:
            return os.ttyname(fd)
        except OSError:
            continue
    return None


def _readonly_loop(path):
    """A read-only loop device over the block device ``path``: its descriptor and number. The device
    goes away when its last user closes it (at the namespace's end: the descriptor is held till then)."""
    backing = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        for _ in range(16):  # another process may take the free device first
            number = _check(libc.ioctl(control, LOOP_CTL_GET_FREE, None), "LOOP_CTL_GET_FREE")
            fd = os.open(f"/dev/loop{number}", os.O_RDONLY | os.O_CLOEXEC)
            # struct loop_config: fd, block_size, struct loop_info64 (lo_flags at 52, lo_file_name at 56)
            config = bytearray(304)
            struct.pack_into("II", config, 0, backing, 0)
            struct.pack_into("I", config, 8 + 52, LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR)
            name = os.fsencode(path)[:63]
            config[8 + 56 : 8 + 56 + len(name)] = name
            if libc.ioctl(fd, LOOP_CONFIGURE, (ctypes.c_char * len(config)).from_buffer(config)) == 0:
                return fd, number
            err = ctypes.get_errno()
            os.close(fd)
            if err != 16:  # EBUSY: taken meanwhile
                raise OSError(err, f"read-only loop device for {path}: {os.strerror(err)}")
        raise OSError(16, f"no free loop device for {path}")
    finally:
        os.close(control)
        os.close(backing)


def mount_devices(mounts):
    """Mount the named devices' filesystems read-only, by their names in the chroot's /dev (which is
    how /proc/mounts then shows them, and how os-prober finds them mounted)."""
    for path, point, fstype in mounts:
        target = _dir("/", point)
        for driver in DRIVERS.get(fstype, (fstype,)):
            try:
                mount(path, target, driver, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NO_REPLAY.get(fstype))
                break
            except OSError as exc:
                error = exc
        else:
            print(f"ash: {path} ({fstype}) not mounted at {point}: {error.strerror}", file=sys.stderr)


def enter_root(root, mounts):
    """Make ``root`` the namespace's "/" (the host's tree is gone from it), then shut this process
    in an empty directory; return a descriptor of the root, for the command to chroot back into."""
    os.chdir(root)
    mount(".", "/", None, MS_MOVE)
    os.chroot(".")
    mount_devices(mounts)
    root_fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    os.makedirs(INIT_DIR, mode=0o700, exist_ok=True)
    os.chroot(INIT_DIR)
    os.chdir("/")
    return root_fd


def drop_capabilities():
    """Limit this process and everything it starts to ``KEPT``: the bounding set (what any exec,
    set-user-ID or with file capabilities, can have at most), then the sets it has now."""
    keep = 0
    for bit in KEPT.values():
        keep |= 1 << bit
    for bit in range(64):
        if not keep & (1 << bit) and libc.prctl(PR_CAPBSET_DROP, bit, 0, 0, 0) != 0:
            if ctypes.get_errno() == 22:  # EINVAL: no such capability in this kernel; none after it
                break
            _check(-1, "PR_CAPBSET_DROP")
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)  # EINVAL before Linux 4.3: none to clear
    header = ctypes.create_string_buffer(struct.pack("Ii", LINUX_CAPABILITY_VERSION_3, 0))
    data = ctypes.create_string_buffer(24)
    _check(libc.capget(header, data), "capget")
    words = list(struct.unpack("6I", data.raw))  # effective, permitted, inheritable; low then high word
    masks = (keep & 0xFFFFFFFF, keep >> 32)
    for i in range(6):
        words[i] &= masks[i // 3] if i % 3 != 2 else 0  # nothing inheritable
    _check(libc.capset(header, struct.pack("6I", *words)), "capset")


def _resolv_conf(root):
    """Give the chroot the host's name servers without changing the snapshot's /etc/resolv.conf."""
    host = "/etc/resolv.conf"
    if not os.path.exists(host):
        return
    target = inside(root, "etc/resolv.conf")
    if target.startswith(os.path.join(root, "run", "")):  # a link into our private /run tmpfs
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(host, "rb") as src, open(target, "wb") as dst:
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
    """PID 1 of the new namespace: mount, drop capabilities, start the command, reap, pass its exit
    status on. The read-only loop devices stay open here until the end (then they go away)."""
    die_with_parent(None)
    for fd in spec.get("close_fds", []):  # the store's lock stays with the process outside
        os.close(fd)
    try:
        held, mounts = setup_mounts(spec)
        root_fd = enter_root(spec["root"], mounts)
        drop_capabilities()
    except OSError as exc:
        print(f"ash: cannot prepare the chroot: {exc.strerror or exc}", file=sys.stderr)
        os._exit(126)
    me = os.getpid()
    child = os.fork()
    if child == 0:
        die_with_parent(me)
        run_command(spec, root_fd)
    os.close(root_fd)  # the loop devices in ``held`` stay open until this process exits
    while True:
        pid, status = os.wait()
        if pid == child:
            os._exit(exit_status(status))


def main(spec_fd=None):
    spec_fd = int(sys.argv[1]) if spec_fd is None else spec_fd
    with open(spec_fd, "rb") as f:  # a descriptor ash passes, which is closed here
        spec = marshal.load(f)  # written by the same interpreter (chroot._spec_file)
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTOU, signal.SIGTTIN):
        signal.signal(sig, signal.SIG_IGN)  # the terminal's signals are for the command, not for us
    try:
        _check(libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC), "unshare")
        mount(None, "/", None, MS_REC | MS_PRIVATE)
    except OSError as exc:  # e.g. ash itself chrooted into a directory that is no mount point
        print(f"ash: cannot prepare the chroot: {exc.strerror or exc} (is ash itself in a chroot?)", file=sys.stderr)
        sys.exit(126)
    pid = os.fork()
    if pid == 0:
        init_process(spec)
    _, status = os.waitpid(pid, 0)
    sys.exit(exit_status(status))


def run_forked(parent, spec_fd, keep):
    """The sandbox in a child that ash forked (``preexec_fn`` of its Popen), not in a new
    interpreter: what ``python3 -I -S script.py FD`` does, without the interpreter's start and
    imports (most of what the sandbox cost). Never returns: it ends the child with the status that
    command would have, so the child never goes on to exec anything.

    The child is made what a new interpreter would be first: no descriptor of ash open but the
    standard ones, ``spec_fd`` and ``keep`` (as ``pass_fds`` leaves them; the pipe on which Popen
    waits for the exec closes with them, so ash goes on), the garbage collector off (no finalizer of
    an object of ash's runs here), every signal ash handles in Python back to its default, SIGPIPE
    and SIGXFSZ ignored (as Python starts), and dying with ash."""
    status = 1
    try:
        die_with_parent(parent)
        import gc

        gc.disable()
        for sig in signal.valid_signals():
            try:
                if callable(signal.getsignal(sig)):
                    signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError):  # SIGKILL, SIGSTOP and the like
                continue
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        low = 3
        for fd in sorted({fd for fd in (spec_fd, *keep) if fd >= 3}):
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, 1 << 30)
        main(spec_fd)
        status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - reported as the interpreter would, then the child ends
        import traceback

        traceback.print_exc()
    finally:
        os._exit(status)


if __name__ == "__main__":
    main()
