"""The reliability campaign (issue 9): for each class of what can go wrong, many cases drawn from a
fixed, printed seed, each run against the real ash on real btrfs, each checked to have lost nothing;
the table of what was tried is printed at the end of the test run (see docs/debugging.md).

The fixed examples of each class are elsewhere (test_grub_config, test_sandbox_escapes, test_tamper,
test_tree_file, test_inputs, test_safety, test_deploy); this module widens them with generated
cases. The host-side links class is the general test in test_snapshot_links.py, which counts its
cases into the same table. ``ASH_CAMPAIGN_SCALE=10`` runs ten times the cases; ``ASH_CAMPAIGN_SEED``
draws others.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
from ash_testing.campaign import Case, Snap, failpoints, leftovers, losses, scaled, state
from ash_testing.cli import Ash, run_bytes
from ash_testing.deploys import deploy_state, grub_default
from ash_testing.grub import context, entry, grub_commands, grub_script_check, make_root, without
from ash_testing.mounts import block_device_of, mounts_under
from ash_testing.roots import busybox_tree
from ash_testing.snapshots import digest, populate

from ashcore.fs import btrfs

pytestmark = pytest.mark.root

#: Base counts of cases per class (times ASH_CAMPAIGN_SCALE).
CASES = {
    "menu": 150,
    "menu-cli": 6,
    "sandbox": 14,
    "tamper": 10,
    "tree": 14,
    "inputs": 24,
    "failpoint": 22,
    "random-kill": 22,
    "concurrent": 3,  # rounds of CONCURRENT clones
    "deploy": 10,
}
CONCURRENT = 10


def one_line_refusal(proc: subprocess.CompletedProcess) -> str | None:
    """Why ``proc`` is not a clean refusal (None if it is): a non-zero exit with one ``ash: error:``
    line, or a usage error of the command line with one ``Error:`` line, and no traceback."""
    err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode(errors="replace")
    if proc.returncode == 0:
        return "it succeeded"
    if "Traceback" in err:
        return f"a traceback: {err[-400:]}"
    ours = [line for line in err.splitlines() if line.startswith("ash: error:")]
    usage = [line for line in err.splitlines() if line.startswith("Error:")]
    if len(ours) + len(usage) != 1:
        return f"not one error line: {err[-400:]!r}"
    return None


# -- the boot menu, whatever snapshots contain ---------------------------------------------------

#: What hostile text is made of: GRUB's syntax, line breaks, control characters, terminal escapes,
#: what is not UTF-8 (as ash records a byte argument), options, and long runs of any of these.
FRAGMENTS = [
    "'", '"', "\\", "$root", "${prefix}", "$?", "$(reboot)", "`id`", ";", "set timeout=99", "{", "}",
    "menuentry x {", "submenu y {", "\n", "\r\n", "\t", "\x00", "\x1b[2J", "\x1b]0;t\x07", "\x9b", "\x7f",
    "\u202e", "\u2028", "\x85", "#", "|", "&&", ">", "<", "--id=ash-default", "-", "é日\U0001f600", "\udce9",
    "\udcff", " ", "[[", "]]", "word", "quiet", "console=ttyS0", "a=b",
]  # fmt: skip


def hostile(rng, *, long: bool = True) -> str:
    parts = [rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 10))]
    if long and rng.random() < 0.25:
        parts.append(rng.choice(FRAGMENTS) * rng.randint(100, 4000))
    rng.shuffle(parts)
    return "".join(parts)


MENU_KEYS = ("GRUB_TIMEOUT", "GRUB_TIMEOUT_STYLE", "GRUB_TERMINAL", "GRUB_SERIAL_COMMAND", "GRUB_CMDLINE_LINUX")
ALLOWED_HEADER = {"set", "insmod", "search", "serial", "terminal_input", "terminal_output"}


def grub_file(root: Path, settings: dict[str, str]) -> None:
    text = "".join(f"{k}={shlex.quote(v)}\n" for k, v in settings.items())
    (root / "etc/default/grub").write_bytes(text.encode(errors="surrogateescape"))


def outside(commands: list) -> list:
    """The menu's commands but for the entries of snapshots 0 and 1 (where their text goes)."""
    return without(without(commands, "snapshot 0"), "snapshot 1")


def test_boot_menu_whatever_snapshots_contain(tmp_path, campaign, capsys):
    """Hostile descriptions of two snapshots, a hostile kernel command line in one that is not
    deployed, and a hostile menu setting of the deployed one, rendered by ash-grub: GRUB reads every
    menu, ash's check passes it, every line is printable, the default entry boots the deployment,
    and the hostile text changes nothing outside its own snapshot's entry."""
    from ash_grub import config, verify

    run = campaign("boot menu: hostile descriptions and settings")
    default = make_root(tmp_path / "d2", "6.1.0-10-amd64")
    fallback = make_root(tmp_path / "d1", "6.1.0-9-amd64")
    snaps = (make_root(tmp_path / "s0", "6.1.0-9-amd64"), make_root(tmp_path / "s1", "6.1.0-9-amd64"))
    for case in run.each(CASES["menu"]):
        descriptions = {0: hostile(run.rng), 1: hostile(run.rng)}
        cmdline = hostile(run.rng, long=False)
        key = run.rng.choice(MENU_KEYS)
        value = hostile(run.rng, long=False) if run.rng.random() < 0.7 else run.rng.choice(["0", "menu", "serial"])
        case.tried = (
            f"descriptions {descriptions!r}, snapshot 0's GRUB_CMDLINE_LINUX={cmdline!r}, deployed {key}={value!r}"
        )
        grub_file(default, {key: value})
        grub_file(snaps[0], {"GRUB_CMDLINE_LINUX": "quiet"})
        capsys.readouterr()
        benign = config.render(
            context(tmp_path, default, fallback, snaps, {0: "zero", 1: "one"}), config.read_settings(default)
        )
        header_warnings = capsys.readouterr().err.splitlines()
        grub_file(snaps[0], {"GRUB_CMDLINE_LINUX": cmdline})
        ctx = context(tmp_path, default, fallback, snaps, descriptions)
        menu = config.render(ctx, config.read_settings(default))
        warnings = capsys.readouterr().err.splitlines()
        grub_script_check(menu)
        verify.structure(menu, ctx)
        lines = menu.splitlines()
        problems = [f"line {i} is not printable" for i, x in enumerate(lines) if not x.replace("\t", "").isprintable()]
        commands, reference = grub_commands(menu), grub_commands(benign)
        if outside(commands) != outside(reference):
            problems.append("the hostile text changed the menu outside its own snapshots' entries")
        for sid in (0, 1):
            found = entry(commands, f"snapshot {sid}")
            title = found[0][1] if found else ""
            if not (title.startswith(f"snapshot {sid}") and title.isprintable() and len(title) <= 64 + 13):
                problems.append(f"snapshot {sid}'s title is {title!r}")
        if any(words[0] not in ALLOWED_HEADER for words, block in commands if block is None):
            problems.append("the header runs a command ash does not write")
        extra = [w for w in warnings if w not in header_warnings]
        if not all(w.startswith("ash: warning: snapshot ") and w.isprintable() for w in warnings):
            problems.append(f"a warning that names no snapshot: {warnings}")
        case.lost_nothing(problems)
        case.ended("refused (left out, one warning)" if extra or header_warnings else "committed (shown)")


def test_boot_menu_through_the_cli(system, campaign):
    """``ash desc`` of hostile text on a deployed system: the rewritten menu passes GRUB's and ash's
    checks, the deployed snapshot still boots by default, and the tree keeps the whole description."""
    run = campaign("boot menu: hostile descriptions (CLI)")
    system("clone", "0")
    system("clone", "0")
    system("deploy", "1")
    for case in run.each(CASES["menu-cli"]):
        text = hostile(run.rng).replace("\x00", "")  # an argument cannot hold NUL
        sid = run.rng.choice([1, 2])
        case.tried = f"ash desc {sid} {text!r}"
        before = state(system)
        raw = text.encode(errors="surrogateescape")
        proc = run_bytes(system, b"desc", str(sid).encode(), raw)
        assert proc.returncode == 0 and b"Traceback" not in proc.stderr, proc.stderr
        menu = (system.store / "boot/grub/grub.cfg").read_text()
        grub_script_check(menu)
        after = state(system)
        shown = "".join(c if not 0xDC80 <= ord(c) <= 0xDCFF else f"\\x{ord(c) - 0xDC00:02x}" for c in text)
        problems = losses(before, after, changed={sid})
        if after[sid].description != shown or after[sid].files != before[sid].files:
            problems.append(f"the tree holds {after[sid].description!r}")
        if grub_default(system)[0] != 1:
            problems.append("the default entry no longer boots snapshot 1")
        case.lost_nothing(problems + leftovers(system))
        case.ended("committed")


# -- the sandbox does not reach the host ------------------------------------------------------------

SANDBOX_APPLETS = (
    "sh", "echo", "cat", "ls", "mkdir", "rm", "mount", "umount", "mknod", "dd", "insmod", "ln", "chroot", "true",
    "false", "printf", "grep", "touch",
)  # fmt: skip


@pytest.fixture(scope="session")
def sandbox_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("campaign-sandbox") / "root"
    return busybox_tree(root, "ID=testos\n", applets=SANDBOX_APPLETS, dirs=("var/lib",))


SYS_FILES = ["/sys/kernel/mm/ksm/run", "/sys/power/state", "/sys/kernel/profiling"]
PROC_SYS_FILES = ["/proc/sys/kernel/hostname", "/proc/sys/vm/drop_caches", "/proc/sys/kernel/domainname"]


def escapes(box: Ash, host: Path) -> dict:
    """Escapes from a snapshot's sandbox, each a function of a random generator giving a script that
    prints ESCAPED if it got through."""
    device, major, minor, top = block_device_of(box.sysroot)
    other = box.snapshot(2)
    return {
        "mount the store's disk": lambda r: f"mkdir -p /m && mount -t btrfs {device} /m && echo ESCAPED",
        "mount a tmpfs": lambda r: "mkdir -p /t && mount -t tmpfs none /t && echo ESCAPED",
        "bind a directory": lambda r: f"mount --bind {r.choice(['/bin', '/etc', '/'])} /mnt && echo ESCAPED",
        "make a block device": lambda r: (
            f"mknod /d{r.randint(0, 99)} b {r.choice([major, 7, 8])} {r.choice([minor, 0, 1])} && echo ESCAPED"
        ),
        "read the disk": lambda r: f"dd if={device} bs=512 count=1 2>/dev/null | grep -q . && echo ESCAPED",
        "remount /sys": lambda r: "mount -o remount,rw /sys && echo ESCAPED",
        "write /sys": lambda r: f"echo 1 > {r.choice(SYS_FILES)} && echo ESCAPED",
        "write /proc/sys": lambda r: (
            f"echo {r.randint(1, 99)} > {r.choice(PROC_SYS_FILES)} && echo ESCAPED"
        ),
        "load a module": lambda r: "insmod /lib/modules/x.ko && echo ESCAPED",
        "reach another snapshot": lambda r: (
            f"cat {r.choice([other, '../snapshot-2', f'/proc/1/root{other}', '/../../snapshot-2'])}/etc/os-release"
            " && echo ESCAPED"
        ),
        "write the host": lambda r: (
            f"echo pwned > {r.choice([str(host / 'canary'), '/proc/1/root' + str(host / 'canary'), str(top) + '/x'])}"
            "; true"
        ),
        "climb out of the chroot": lambda r: (
            f"mkdir -p /c && chroot /c /bin/sh -c 'cd ../../..; ls {other}' && echo ESCAPED"
        ),
    }  # fmt: skip


def test_the_sandbox_does_not_reach_the_host(ash, sandbox_root, tmp_path, campaign):
    """Root in ``ash run`` tries random escapes with random targets; the host, the store and the
    other snapshots stay as they were, whether the command's snapshot is committed or not."""
    run = campaign("sandbox: escapes from ash run")
    host = tmp_path / "host"
    host.mkdir()
    (host / "canary").write_text("the host's\n")
    ash("init", "--from", sandbox_root)
    ash("clone", "0")
    ash("clone", "0")
    tries = escapes(ash, host)
    for case in run.each(CASES["sandbox"]):
        names = run.rng.sample(sorted(tries), run.rng.randint(1, 3))
        ends = run.rng.choice(["true", "false"])
        script = "; ".join([tries[n](run.rng) for n in names] + [ends])
        case.tried = f"ash run 1 sh -c {script!r}"
        before, host_before = state(ash), digest(host)
        proc = ash("run", "1", "sh", "-c", script, check=False)
        after = state(ash)
        committed = proc.returncode == 0
        problems = losses(before, after, changed={1} if committed else set())
        if "ESCAPED" in proc.stdout:
            problems.append(f"an escape got through: {proc.stdout[-300:]}")
        if digest(host) != host_before:
            problems.append("a host file changed")
        if not committed and after[1] != before[1]:
            problems.append("the failed command changed snapshot 1")
        case.lost_nothing(problems + leftovers(ash))
        case.ended("committed" if committed else "rolled back")


# -- tamper detection -----------------------------------------------------------------------------


def test_tampering_is_found(store, campaign):
    """A random snapshot made writable behind ash's back, or changed in a random way and set read-only
    again: the next changing command puts the flag back and says so, ``ash check`` names exactly the
    changed snapshot, and ash keeps its files and its place in the tree."""
    run = campaign("tamper: changes behind ash's back")
    store("clone", "0")
    store("run", "1", "sh", "-c", "echo one > /file")
    store("branch", "1")
    store("clone", "0")
    for case in run.each(CASES["tamper"]):
        kind = run.rng.choice(["made writable", "files changed", "files changed, left writable"])
        sid = run.rng.choice(sorted(store.ids() - ({0} if kind != "made writable" else set())))  # 0: see below
        path = store.snapshot(sid) / run.rng.choice(["file", "etc/passwd", "bin/new", "etc/os-release", "root/x"])
        change = run.rng.choice(["write", "remove", "chmod"])
        case.tried = f"snapshot {sid} {kind} ({change} {path.relative_to(store.snapshot(sid))})"
        before = state(store)
        btrfs.set_readonly(store.snapshot(sid), False)
        if kind != "made writable":
            if change == "write" or not path.exists():
                path.write_text(f"tampered {case.number}\n")
            elif change == "remove":
                path.unlink()
            else:
                path.chmod(0o777)
            if kind == "files changed":
                btrfs.set_readonly(store.snapshot(sid), True)
        # not read while writable: reading would change the files' access times, which is a change too
        tampered = digest(store.snapshot(sid)) if kind == "files changed" else None
        problems = []
        if "writable" in kind:
            other = run.rng.choice(sorted(store.ids() - {sid}) or [sid])
            out = store("desc", str(other), f"description {case.number}")
            if f"set snapshot {sid} read-only, though it is immutable" not in out.stderr:
                problems.append(f"the next command did not put the flag back: {out.stderr!r}")
            before[other] = Snap(
                before[other].parent, f"description {case.number}", before[other].mutable, before[other].files
            )
        if tampered is None:
            tampered = before[sid].files if kind == "made writable" else digest(store.snapshot(sid))
        report = store("check").stdout
        found = report.count("has changed since ash committed it")
        if kind != "made writable" and (found != 1 or f"snapshot {sid} has changed since" not in report):
            problems.append(f"check did not name exactly snapshot {sid}: {report!r}")
        if kind == "made writable" and found:
            problems.append(f"check reported a change that was not made: {report!r}")
        after = state(store)
        problems += losses(before, after, changed={sid})
        if after[sid].files != tampered:
            problems.append("ash changed the tampered snapshot's files")
        if not btrfs.is_readonly(store.snapshot(sid)):
            problems.append("the snapshot was left writable")
        case.lost_nothing(problems)
        if kind != "made writable":
            store("run", str(sid), "true")  # committed by ash again: the new content is ash's now (0 cannot be)
        case.ended("put back" if kind == "made writable" else "reported")
    assert leftovers(store) == []


# -- no input loses tree data ---------------------------------------------------------------------

TREE_SNAPSHOTS = 30
BAD_VALUES = ["six", "", [1], {"a": 1}, 1.5, -3.5, "0", [None]]


def damage(rng, data: dict) -> tuple[str, set[int], set[int]]:
    """Damage ``data`` (a tree file) at random: what was done, the snapshots whose entries were
    damaged, and those whose description was."""
    entries = data["snapshots"]
    ids = [s["id"] for s in entries if s["id"] != 0]
    kind = rng.choice(["field", "field", "missing field", "no number", "duplicate", "loop", "next number", "torn"])
    if kind in ("field", "missing field"):
        sid = rng.choice(ids)
        field = rng.choice(["parent", "description", "mutable", "created", "transid"])
        target = next(s for s in entries if s["id"] == sid)
        if kind == "field":
            value = rng.choice(BAD_VALUES + ([True] if field != "mutable" else []))
            if field == "description" and isinstance(value, str):
                value = [value]
            target[field] = value
        else:
            del target[field]
        return f"{kind} {field} of {sid}", {sid}, {sid} if field == "description" else set()
    if kind == "no number":
        entries.insert(rng.randrange(len(entries)), {"id": rng.choice(["x", -1, 2.5, None, [3]]), "parent": None})
        return kind, set(), set()
    if kind == "duplicate":
        sid = rng.choice(ids)
        entries.append({**next(s for s in entries if s["id"] == sid), "description": "an impostor"})
        return f"{kind} {sid}", set(), set()
    if kind == "loop":
        ring = rng.sample(ids, rng.randint(2, 4))
        for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
            next(s for s in entries if s["id"] == a)["parent"] = b
        return f"loop {ring}", set(ring), set()
    if kind == "next number":
        data["next_id"] = rng.choice(["many", -1, 0, 1.5, None])
        return kind, set(), set()
    return "torn", set(), set()


def test_no_damaged_tree_file_loses_data(store, campaign):
    """Random damage to a tree file of 31 snapshots: a changing command refuses in one line and
    changes nothing, the tree still shows every snapshot, ``ash check`` keeps the damaged file and
    repairs it so that every entry that was not damaged is as it was, every damaged one keeps its
    description (unless that was the damage), and snapshot numbers are never reused."""
    run = campaign("tree file: damaged tree files")
    populate(store, TREE_SNAPSHOTS)
    tree_file, prev = store.store / "ash/tree.json", store.store / "ash/tree.json.prev"
    for case in run.each(CASES["tree"]):
        good_raw = tree_file.read_bytes()
        prev.write_bytes(good_raw)  # the good previous version, as after any change
        good = json.loads(good_raw)
        data = json.loads(good_raw)
        what, damaged, described = [], set(), set()
        for _ in range(run.rng.randint(1, 3)):
            done, hit, desc = damage(run.rng, data)
            what.append(done)
            damaged |= hit
            described |= desc
        raw = json.dumps(data).encode()
        if "torn" in what:
            raw = raw[: run.rng.randrange(1, len(raw) - 1)]
        case.tried = ", ".join(what)
        tree_file.write_bytes(raw)
        kept_before = set((store.store / "ash").glob("tree.json.broken-*"))
        problems = []
        refused = store("clone", "1", check=False)
        if (why := one_line_refusal(refused)) is not None:
            problems.append(f"a changing command on the damaged file: {why}")
        if tree_file.read_bytes() != raw or list((store.store / "rootfs").glob(".*")):
            problems.append("the refused command changed something")
        shown = store("tree", "--json", check=False)
        if "torn" in what:  # not JSON: the looking commands refuse too, in one line
            if (why := one_line_refusal(shown)) is not None:
                problems.append(f"ash tree on a torn file: {why}")
        elif shown.returncode != 0 or store.ids() != {s["id"] for s in good["snapshots"]}:
            problems.append(f"ash tree does not show every snapshot: {shown.stderr[-300:]}")
        store("check")
        kept = set((store.store / "ash").glob("tree.json.broken-*")) - kept_before
        if len(kept) != 1 or next(iter(kept)).read_bytes() != raw:
            problems.append("the damaged file was not kept")
        repaired = {s["id"]: s for s in json.loads(tree_file.read_bytes())["snapshots"]}
        for old in good["snapshots"]:
            new = repaired.get(old["id"])
            if new is None:
                problems.append(f"snapshot {old['id']} was lost")
            elif old["id"] not in damaged and new != old:
                problems.append(f"snapshot {old['id']} was not damaged but changed: {new}")
            elif old["id"] not in described and new["description"] != old["description"]:
                problems.append(f"snapshot {old['id']} lost its description")
        if set(repaired) != {s["id"] for s in good["snapshots"]}:
            problems.append(f"the repaired tree has other snapshots: {sorted(set(repaired))}")
        problems += leftovers(store)
        if case.number % 4 == 0:
            made = int(store("clone", "0").stdout)
            if made <= max(repaired) or made < good["next_id"]:
                problems.append(f"the new snapshot got the number {made}, not a new one")
        case.lost_nothing(problems)
        case.ended("refused, then repaired by ash check")


# -- inputs: one line, never a traceback ----------------------------------------------------------

NOT_NUMBERS = ["٢", "２", "-1", "+1", "1.0", " ", "", "99999999999999999999", "0x1", "1e3", "1 2", "\x1b[2J"]
TEXT_BYTES = [
    b"caf\xe9",
    b"\xff\xfe",
    b"\x1b]0;pwned\x07",
    b"\x1b[2J",
    b"--",
    b"-y",
    b"--json",
    b"-",
    b"'$(id)'",
    b"\n",
]


#: what looks like an option and is none of any command
NOT_OPTIONS = [b"-x", b"--frob", b"-1", b"--json=1", b"-\xe9", b"---", b"-\x1b[2J", b"--sysroot"]


def hostile_bytes(rng) -> bytes:
    parts = [rng.choice(TEXT_BYTES) for _ in range(rng.randint(1, 5))]
    if rng.random() < 0.2:
        parts.append(b"x" * rng.randint(1000, 120_000))  # one argument takes at most 128 KiB
    return b"".join(parts)


def test_inputs_give_one_line_or_work(store, campaign):
    """Random command lines of hostile arguments (numbers that are not ASCII digits, options where
    numbers go, bytes that are not UTF-8, terminal escapes, very long arguments): each works, or
    fails with one error line and no traceback, changing nothing."""
    run = campaign("inputs: hostile command lines")
    store("clone", "0")
    store("clone", "0")
    for sid in ("1", "2"):
        store("run", sid, "true")  # the sandbox's mount points are made once, by the first run
    for case in run.each(CASES["inputs"]):
        shape = run.rng.choice(["number", "number", "desc", "run", "options", "packages"])
        sid = run.rng.choice(["1", "2"])
        if shape == "number":
            command = run.rng.choice(["clone", "branch", "del", "mutable", "immutable", "list", "unlock", "deploy"])
            bad = run.rng.choice(NOT_NUMBERS).encode()
            argv = [command.encode(), *([b"-y"] if command == "del" else []), bad]
            changing = set()
        elif shape == "desc":
            argv = [b"desc", sid.encode(), hostile_bytes(run.rng)]
            changing = {int(sid)}
        elif shape == "run":
            argv = [b"run", sid.encode(), b"printf", b"%s", hostile_bytes(run.rng)]
            changing = {int(sid)}
        elif shape == "options":
            argv = [
                run.rng.choice([b"clone", b"desc", b"run", b"del", b"tree"]),
                run.rng.choice(NOT_OPTIONS),
                sid.encode(),
            ]
            changing = set()
        else:
            argv = [run.rng.choice([b"install", b"remove"]), sid.encode(), b"--", hostile_bytes(run.rng)[:200]]
            changing = set()
        case.tried = "ash " + " ".join(
            repr(a)[1:] if len(a) < 80 else repr(a[:60]) + f"...({len(a)} bytes)" for a in argv
        )
        before = state(store)
        proc = run_bytes(store, *argv)
        after = state(store)
        problems = []
        if b"Traceback" in proc.stderr:
            problems.append(f"a traceback: {proc.stderr[-400:]!r}")
        ok = proc.returncode == 0
        if not ok and (why := one_line_refusal(proc)) is not None:
            problems.append(why)
        problems += losses(before, after, changed=changing if ok else set())
        if ok and shape == "desc" and after[int(sid)].description == before[int(sid)].description:
            problems.append("desc succeeded but the description is as before")
        if ok and shape == "run" and after[int(sid)].files != before[int(sid)].files:
            problems.append("printf changed the snapshot's files")
        case.lost_nothing(problems + leftovers(store))
        case.ended(("committed" if changing else "ran") if ok else "refused")


# -- crashes: SIGKILL at every failpoint, at random moments; concurrent runs; deploys ----------------


class Operation:
    """A changing command on a store, and how to tell from the store whether it committed."""

    def __init__(self, store: Ash, rng, number: int) -> None:
        ids = sorted(store.ids())
        self.store = store
        self.kind = rng.choice(["run", "run", "clone", "branch", "desc", "mutable", "del"])
        self.sid = rng.choice([i for i in ids if i != 0] if self.kind in ("mutable", "del") else ids)
        if self.kind == "del":
            self.sid = int(store("clone", str(self.sid)).stdout)  # a fresh leaf to delete
        self.token = f"token {number}"
        data = json.loads((store.store / "ash/tree.json").read_text())
        self.new = data["next_id"]
        mutable = next(s["mutable"] for s in data["snapshots"] if s["id"] == self.sid)
        self.argv = {
            "run": ["run", str(self.sid), "sh", "-c", f"echo '{self.token}' > /state"],
            "clone": ["clone", str(self.sid)],
            "branch": ["branch", str(self.sid)],
            "desc": ["desc", str(self.sid), self.token],
            "mutable": ["immutable" if mutable else "mutable", str(self.sid)],
            "del": ["del", "-y", str(self.sid)],
        }[self.kind]

    def judge(self, before: dict[int, Snap], after: dict[int, Snap]) -> tuple[bool, list[str]]:
        """Whether the command committed, and what was lost (anything that changed but what it was for)."""
        sid = self.sid
        if self.kind == "run":
            path = self.store.snapshot(sid) / "state"
            committed = path.exists() and path.read_text() == f"{self.token}\n"
            problems = losses(before, after, changed={sid} if committed else set())
            if committed and (after[sid].description, after[sid].parent) != (
                before[sid].description,
                before[sid].parent,
            ):
                problems.append(f"the run changed snapshot {sid}'s place in the tree")
            return committed, problems
        if self.kind in ("clone", "branch"):
            committed = self.new in after
            problems = losses(before, after, new={self.new} if committed else set())
            if committed and after[self.new].files != before[sid].files:
                problems.append(f"the copy {self.new} is not the files of {sid}")
            if committed and after[self.new].parent != (sid if self.kind == "branch" else None):
                problems.append(f"the copy {self.new} has the parent {after[self.new].parent}")
            return committed, problems
        if self.kind == "desc":
            committed = sid in after and after[sid].description == self.token
            problems = losses(before, after, changed={sid} if committed else set())
            if committed and after[sid].files != before[sid].files:
                problems.append("desc changed the files")
            return committed, problems
        if self.kind == "mutable":
            committed = sid in after and after[sid].mutable != before[sid].mutable
            problems = losses(before, after, changed={sid} if committed else set())
            if committed and after[sid].files != before[sid].files:
                problems.append("toggling mutability changed the files")
            if sid in after and btrfs.is_readonly(self.store.snapshot(sid)) == after[sid].mutable:
                problems.append("the read-only flag does not match the tree")
            return committed, problems
        committed = sid not in after
        return committed, losses(before, after, gone={sid} if committed else set())


def settle(store: Ash) -> list[str]:
    """After a kill: wait until nothing runs in a working copy, then the repairs (one round)."""
    deadline = time.monotonic() + 20
    while any(p.name.startswith(".") for p in (store.store / "rootfs").iterdir()) and time.monotonic() < deadline:
        if store("tmp", check=False).returncode == 0:
            break
        time.sleep(0.1)
    return leftovers(store, repaired=True)


def crash_store(store: Ash) -> None:
    store("clone", "0")
    store("run", "1", "sh", "-c", "echo first > /state")
    store("branch", "1")
    store("clone", "0")


def _outcome(killed: bool, committed: bool) -> str:
    return f"{'killed, ' if killed else ''}{'committed' if committed else 'rolled back'}"


def test_sigkill_at_a_failpoint(store, campaign):
    """A random changing command (run, clone, branch, desc, mutable, del) on a random snapshot,
    killed with SIGKILL at a random one of every failpoint in the core: after the next run's repairs
    the command committed whole or not at all, and nothing else changed."""
    run = campaign("crashes: SIGKILL at a failpoint")
    crash_store(store)
    points = failpoints()
    for case in run.each(CASES["failpoint"]):
        op = Operation(store, run.rng, case.number)
        point = run.rng.choice(points)
        case.tried = f"ash {shlex.join(op.argv)} killed at {point}"
        before = state(store)
        proc = store(*op.argv, check=False, env={"ASH_FAILPOINT": point})
        killed = proc.returncode == -signal.SIGKILL
        problems = [] if killed or proc.returncode == 0 else [f"it failed: {proc.stderr[-300:]}"]
        problems += settle(store)
        committed, lost = op.judge(before, state(store))
        case.lost_nothing(problems + lost)
        case.ended(_outcome(killed, committed))


def test_sigkill_at_a_random_moment(store, campaign):
    """The same commands killed after a random delay (from before ash has started to after it has
    finished): whole or not at all, and nothing else changed."""
    run = campaign("crashes: SIGKILL at a random moment")
    crash_store(store)
    for case in run.each(CASES["random-kill"]):
        op = Operation(store, run.rng, case.number)
        delay = run.rng.uniform(0.05, 0.9)
        case.tried = f"ash {shlex.join(op.argv)} killed after {delay:.3f} s"
        before = state(store)
        proc = store.popen(*op.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.kill()
        killed = proc.wait() == -signal.SIGKILL
        problems = settle(store)
        committed, lost = op.judge(before, state(store))
        case.lost_nothing(problems + lost)
        case.ended(_outcome(killed, committed))


def test_concurrent_runs(store, campaign):
    """Rounds of ten ``ash clone`` started at once: those that got the lock made distinct new
    snapshots, the others were refused naming the holder (exit 75), and nothing else changed."""
    run = campaign("crashes: concurrent clones")
    store("clone", "0")
    for _ in range(scaled(CASES["concurrent"])):
        before = state(store)
        sources = [run.rng.choice(sorted(before)) for _ in range(CONCURRENT)]
        procs = [store.popen("clone", str(s), stdout=subprocess.PIPE, stderr=subprocess.PIPE) for s in sources]
        results = [(p.wait(60), *p.communicate()) for p in procs]
        after = state(store)
        made = [int(out) for status, out, _ in results if status == 0]
        for (status, out, err), source in zip(results, sources, strict=True):
            with run.case(Case(run, run.tally.tried + 1)) as case:
                case.tried = f"ash clone {source}, one of {CONCURRENT} at once"
                problems = []
                if status == 0:
                    if after.get(int(out), None) is None or after[int(out)].files != before[source].files:
                        problems.append(f"the clone {out.strip()} is not a copy of {source}")
                elif status != 75 or "in use by another ash (pid" not in err:
                    problems.append(f"exited {status}: {err[-300:]}")
                case.lost_nothing(problems)
                case.ended("committed" if status == 0 else "refused (locked out)")
        assert len(set(made)) == len(made), f"two clones got the same number: {made}"
        assert losses(before, after, new=set(made)) == []
        assert leftovers(store) == []


DEPLOY_OPS = ("deploy", "deploy", "rollback")


def test_kills_during_deploy(system, campaign):
    """``ash deploy`` of a random snapshot (or ``rollback``) killed at a random deploy failpoint or
    after a random delay: GRUB boots the old or the new deployment, the next run finishes or forgets
    the switch so that the menu, deploy.json and ``current`` agree, and no snapshot changed."""
    run = campaign("crashes: SIGKILL during deploy")
    for _ in range(3):
        system("clone", "0")
    system("deploy", "1")
    system("deploy", "2")
    points = [p for p in failpoints() if p.startswith("deploy:") or p in ("write:deploy.json", "write:grub.cfg")]
    for case in run.each(CASES["deploy"]):
        action = run.rng.choice(DEPLOY_OPS)
        target = run.rng.choice([1, 2, 3])
        argv = ["deploy", str(target)] if action == "deploy" else ["rollback"]
        how = run.rng.choice(points + ["random"])
        before, (booted, booted_dep) = state(system), grub_default(system)
        wanted = target if action == "deploy" else (deploy_state(system).get("previous") or {}).get("snapshot")
        if how == "random":
            delay = run.rng.uniform(0.1, 1.5)
            case.tried = f"ash {' '.join(argv)} killed after {delay:.3f} s"
            proc = system.popen(*argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay)
            proc.kill()
            killed = proc.wait() == -signal.SIGKILL
        else:
            case.tried = f"ash {' '.join(argv)} killed at {how}"
            killed = system(*argv, check=False, env={"ASH_FAILPOINT": how}).returncode == -signal.SIGKILL
        problems = []
        now = grub_default(system)[0]
        if now not in (booted, wanted):
            problems.append(f"GRUB boots {now}, neither {booted} nor {wanted}")
        system("tmp")
        after_boot, dep = grub_default(system)
        if after_boot != now and (now, after_boot) != (booted, wanted):
            problems.append(f"the repair went from {now} back to {after_boot}")
        st = deploy_state(system)
        if st["bootloader_pending"] or (st["snapshot"], st["default"]["id"]) != (after_boot, dep):
            problems.append(f"deploy.json does not say what boots: {st}")
        if system("current").stdout != f"{after_boot}\n":
            problems.append("ash current does not name what boots")
        problems += losses(before, state(system)) + leftovers(system)
        case.lost_nothing(problems)
        switched = dep != booted_dep
        case.ended(_outcome(killed, switched))
    assert not mounts_under(system.sysroot)
