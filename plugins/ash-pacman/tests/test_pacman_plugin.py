"""The pacman plugin through the real ash CLI, real pacman and real btrfs: every check reads pacman's
own database (``ash list --json``, ``var/lib/pacman/local``) or the files on disk.

Most tests run twice (see the ``arch`` fixture in conftest.py): with the host's pacman run from
outside the snapshot with ``--root``, and with pacman run inside the snapshot's chroot.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from ash_testing.cli import error_lines
from ash_testing.roots import busybox

# Scriptlets run by the snapshot's /bin/sh (busybox here).
MARKER = 'post_install() {\n  echo "installed $1" > /var/lib/scripted-marker\n}\n'
BROKEN = "post_install() {\n  echo 'broken: cannot configure' >&2\n  return 1\n}\n"


def add_app(repo) -> None:
    """liba, and appb that depends on it."""
    repo.add("liba", "1.0-1")
    repo.add("appb", "1.0-1", {"usr/bin/appb": "#!/bin/sh\necho appb\n"}, depends=("liba>=1.0",))


def test_install_with_dependency(arch):
    add_app(arch.repo)
    arch.ash("clone", "0")
    out = arch.ash("install", "1", "appb").stdout
    assert "install: snapshot 1 updated" in out
    assert arch.packages(1) == {"appb": ("1.0-1", True), "liba": ("1.0-1", False)}
    assert (arch.root(1) / "usr/share/liba/version").read_text() == "1.0-1\n"
    assert (arch.root(1) / "var/lib/pacman/local/appb-1.0-1/desc").is_file()
    assert arch.packages(0) == {}  # the base is untouched
    cached = "var/cache/pacman/pkg/appb-1.0-1-any.pkg.tar.gz"
    assert (arch.ash.sysroot / cached).is_file() and not (arch.root(1) / cached).exists()  # the shared cache


def test_install_unknown_package_is_one_line(arch):
    add_app(arch.repo)
    arch.ash("clone", "0")
    assert arch.ash.fail("install", "1", "nosuchpkg").endswith("target not found: nosuchpkg")


def test_remove_that_breaks_a_dependency_is_refused(arch):
    add_app(arch.repo)
    arch.ash("clone", "0")
    arch.ash("install", "1", "appb")
    why = "removing liba breaks dependency 'liba>=1.0' required by appb"  # pacman's own words
    assert arch.ash.fail("remove", "1", "liba") == f"ash: error: 'pacman' exited with status 1: {why}"
    assert arch.packages(1) == {"appb": ("1.0-1", True), "liba": ("1.0-1", False)}
    assert (arch.root(1) / "usr/share/liba/version").exists()
    arch.ash("remove", "1", "appb")  # -Rns: takes liba along, nothing else needs it
    assert arch.packages(1) == {}
    assert not (arch.root(1) / "usr/share/liba").exists()


def test_conflicting_file_is_named(arch):
    """pacman names the file only on stdout, after its summary on stderr: the error line says it,
    as the snapshot sees it, while the output is still shown."""
    arch.repo.add("toolc", "1.0-1", {"usr/share/common/file": "toolc\n"})
    arch.repo.add("clash", "1.0-1", {"usr/share/common/file": "clash\n"})
    arch.ash("clone", "0")
    arch.ash("install", "1", "toolc")
    proc = arch.ash("install", "1", "clash", check=False)
    why = "clash: /usr/share/common/file exists in filesystem (owned by toolc)"
    assert error_lines(proc) == [f"ash: error: 'pacman' exited with status 1: {why}"]
    assert "checking for file conflicts..." in proc.stdout  # pacman's output reached the user
    assert arch.packages(1) == {"toolc": ("1.0-1", True)}
    assert (arch.root(1) / "usr/share/common/file").read_text() == "toolc\n"


def test_upgrade_after_version_bump(arch):
    add_app(arch.repo)
    arch.ash("clone", "0")
    arch.ash("install", "1", "appb")
    arch.repo.add("liba", "1.1-1")
    arch.ash("upgrade", "1")
    assert arch.packages(1)["liba"] == ("1.1-1", False)
    assert (arch.root(1) / "usr/share/liba/version").read_text() == "1.1-1\n"


def test_refresh_fetches_the_databases(arch):
    add_app(arch.repo)
    arch.ash("clone", "0")
    arch.ash("refresh", "1")
    assert (arch.root(1) / "var/lib/pacman/sync/test.db").is_file()
    assert arch.packages(1) == {}


def test_install_scriptlet_runs(arch):
    arch.repo.add("scripted", "1.0-1", install=MARKER)
    arch.ash("clone", "0")
    arch.ash("install", "1", "scripted")
    assert (arch.root(1) / "var/lib/scripted-marker").read_text() == "installed 1.0-1\n"


def test_failing_scriptlet_leaves_snapshot_unchanged(arch):
    """pacman exits 0 when a scriptlet fails; ash must not commit the half-configured snapshot."""
    arch.repo.add("broken", "1.0-1", install=BROKEN)
    arch.ash("clone", "0")
    error = arch.ash.fail("install", "1", "broken")
    assert "install scriptlet or a pacman hook failed" in error
    assert arch.packages(1) == {}
    assert not (arch.root(1) / "usr/share/broken").exists()


def test_diff(arch):
    add_app(arch.repo)
    arch.repo.add("toolc", "1.0-1")
    arch.repo.add("scripted", "1.0-1", install=MARKER)
    arch.ash("clone", "0")
    arch.ash("install", "1", "appb", "toolc")
    arch.ash("clone", "1")  # 2
    arch.ash("remove", "2", "toolc")
    arch.repo.add("liba", "1.1-1")
    arch.ash("upgrade", "2")
    arch.ash("install", "2", "scripted")
    assert json.loads(arch.ash("diff", "1", "2", "--json").stdout) == {
        "added": [{"name": "scripted", "version": "1.0-1", "explicit": True}],
        "removed": [{"name": "toolc", "version": "1.0-1", "explicit": True}],
        "changed": [{"name": "liba", "from": "1.0-1", "to": "1.1-1"}],
        "profiles": {"added": [], "removed": []},
    }
    assert arch.ash("diff", "1", "2").stdout.splitlines() == [
        "+ scripted 1.0-1",
        "- toolc 1.0-1",
        "~ liba 1.0-1 -> 1.1-1",
    ]


def test_tree_operations_across_three_levels(arch):
    """1 ─ 2 ─ {3, 4}: sync, force-sync, tree-upgrade and tree-rmpkg, each on the right snapshots."""
    add_app(arch.repo)
    arch.repo.add("toolc", "1.0-1")
    arch.ash("clone", "0")  # 1
    arch.ash("install", "1", "appb")
    arch.ash("branch", "1")  # 2
    arch.ash("branch", "2")  # 3
    arch.ash("cbranch", "3")  # 4, sibling of 3
    arch.ash("install", "1", "toolc")
    arch.repo.add("liba", "1.1-1")

    arch.ash("force-sync", "1")  # installs what a parent has and a child lacks; upgrades nothing
    for sid in (2, 3, 4):
        assert arch.packages(sid) == {
            "appb": ("1.0-1", True),
            "liba": ("1.0-1", False),
            "toolc": ("1.0-1", True),
        }

    arch.ash("sync", "1")  # upgrades the whole tree first
    for sid in (1, 2, 3, 4):
        assert arch.packages(sid)["liba"] == ("1.1-1", False)

    arch.repo.add("liba", "1.2-1")
    arch.ash("tree-upgrade", "2")
    assert arch.packages(1)["liba"] == ("1.1-1", False)
    for sid in (2, 3, 4):
        assert arch.packages(sid)["liba"] == ("1.2-1", False)

    arch.ash("tree-rmpkg", "2", "toolc")
    assert "toolc" in arch.packages(1)
    for sid in (2, 3, 4):
        assert "toolc" not in arch.packages(sid)
        assert not (arch.root(sid) / "usr/share/toolc").exists()


def test_sync_with_failures_visits_each_snapshot_once_parents_first(arch, repo_server):
    """1 ─┬─ 2 ── 4     and 6, a separate tree. Each snapshot's pacman fetches from its own URL (the
          └─ 3 ── 5     server records who asks). liba 1.1 brings a file that toolc owns: 3, which has
    toolc, fails its upgrade, and 5 upgrades but then fails to install 3's toolc. Both stay as they
    were (pacman's local database says so); the others are done."""
    add_app(arch.repo)
    arch.repo.add("toolc", "1.0-1", {"usr/share/common/file": "toolc\n"})
    arch.ash("clone", "0")  # 1
    arch.ash("install", "1", "appb")
    for parent in (1, 1, 2, 3):
        arch.ash("branch", str(parent))  # 2, 3, 4, 5
    arch.ash("clone", "0")  # 6
    arch.ash("install", "6", "appb")
    arch.ash("install", "3", "toolc")
    for sid in range(1, 7):
        server = f"Server = {repo_server.url}/snapshot-{sid}\n"
        arch.ash("run", str(sid), "tee", "/etc/pacman.d/test-repo.conf", input=server)
    arch.repo.add("liba", "1.1-1", {"usr/share/liba/version": "1.1-1\n", "usr/share/common/file": "liba\n"})
    before = {sid: arch.packages(sid) for sid in range(1, 7)}
    repo_server.requests.clear()

    proc = arch.ash("sync", "1", check=False)
    assert proc.returncode == 1
    assert "sync: done in 1, 2, 4\n" in proc.stdout
    assert error_lines(proc) == [
        "ash: error: snapshot 3: 'pacman' exited with status 1:"
        " liba: /usr/share/common/file exists in filesystem (owned by toolc)",
        "ash: error: snapshot 5: 'pacman' exited with status 1:"
        " toolc: /usr/share/common/file exists in filesystem (owned by liba)",
        "ash: error: sync failed in snapshot(s) 3, 5; the others were done",
    ]
    for sid in (1, 2, 4):
        assert arch.packages(sid) == {**before[sid], "liba": ("1.1-1", False)}, sid
    for sid in (3, 5, 6):
        assert arch.packages(sid) == before[sid], sid
    assert (arch.root(3) / "usr/share/common/file").read_text() == "toolc\n"
    assert (arch.root(5) / "usr/share/liba/version").read_text() == "1.0-1\n"
    visits = repo_server.visits("/test.db")
    assert sorted(visits) == [1, 2, 3, 4, 5], repo_server.requests
    for child, parent in {2: 1, 3: 1, 4: 2, 5: 3}.items():
        assert visits.index(parent) < visits.index(child), visits


def _branch_without_databases(arch) -> None:
    """1 with liba, 2 a branch of it that has never fetched its sync databases, then appb (which
    needs liba) installed in 1, and a newer liba in the repository: force-sync must not take it."""
    add_app(arch.repo)
    arch.ash("clone", "0")  # 1
    arch.ash("install", "1", "liba")
    arch.ash("branch", "1")  # 2
    arch.ash("run", "2", "rm", "-r", "/var/lib/pacman/sync")
    arch.ash("install", "1", "appb")
    arch.repo.add("liba", "1.1-1")


def _shared_cache(arch) -> Path:
    return arch.ash.sysroot / "var/cache/pacman/pkg"


def test_force_sync_takes_the_parents_files_from_the_shared_cache(arch):
    """The child has no databases and the repository is gone: the parent's appb is installed from the
    package file the parent left in the shared cache, at its version, with no database fetched."""
    _branch_without_databases(arch)
    assert sorted(p.name for p in _shared_cache(arch).iterdir()) == [
        "appb-1.0-1-any.pkg.tar.gz",
        "liba-1.0-1-any.pkg.tar.gz",
    ]
    shutil.rmtree(arch.repo.path)
    arch.ash("force-sync", "1")
    assert arch.packages(2) == {"appb": ("1.0-1", True), "liba": ("1.0-1", True)}
    assert not (arch.root(2) / "var/lib/pacman/sync").exists(), "no database was fetched or copied"
    assert (arch.root(2) / "usr/bin/appb").is_file()


def test_force_sync_installs_dependencies_as_dependencies(arch):
    """appb pulled liba into 1 as a dependency; its child 2 lacks both and has no databases: it gets
    both from the cache, liba marked as a dependency as in 1."""
    add_app(arch.repo)
    arch.ash("clone", "0")  # 1
    arch.ash("branch", "1")  # 2
    arch.ash("run", "2", "rm", "-rf", "/var/lib/pacman/sync")
    arch.ash("install", "1", "appb")
    assert arch.packages(1) == {"appb": ("1.0-1", True), "liba": ("1.0-1", False)}
    arch.ash("force-sync", "1")
    assert arch.packages(2) == arch.packages(1)


def test_force_sync_without_the_files_uses_the_parents_databases_at_its_versions(arch):
    """No package file in the cache: the child without databases gets a copy of its parent's, which
    still offer the parent's appb 1.0-1, and pacman installs that."""
    _branch_without_databases(arch)
    for cached in _shared_cache(arch).iterdir():
        cached.unlink()
    arch.ash("force-sync", "1")
    assert arch.packages(2) == {"appb": ("1.0-1", True), "liba": ("1.0-1", True)}
    assert sorted(p.name for p in (arch.root(2) / "var/lib/pacman/sync").iterdir()) == ["test.db"]


def test_force_sync_refuses_what_only_an_upgrade_could_bring(arch):
    """The parent's databases (refreshed) offer only liba 1.1-1 now, and the cache is empty: the
    child cannot get the parent's 1.0-1, so force-sync refuses and leaves it as it was; without any
    databases it says which command fetches them."""
    _branch_without_databases(arch)
    arch.repo.add("appb", "1.1-1", {"usr/bin/appb": "#!/bin/sh\necho appb 1.1\n"}, depends=("liba>=1.0",))
    for cached in _shared_cache(arch).iterdir():
        cached.unlink()
    arch.ash("refresh", "1")
    proc = arch.ash("force-sync", "1", check=False)
    assert error_lines(proc) == [
        "ash: error: snapshot 2: the parent's appb 1.0-1 is neither in the package cache nor in the package"
        " databases (they have 1.1-1)",
        "ash: error: force-sync failed in snapshot(s) 2; the others were done",
    ]
    assert "hint: 'ash sync' the tree, which upgrades it" in proc.stderr
    assert arch.packages(2) == {"liba": ("1.0-1", True)}
    assert not (arch.root(2) / "var/lib/pacman/sync").exists(), "the failed transaction left nothing"

    arch.ash("run", "1", "rm", "-r", "/var/lib/pacman/sync")
    proc = arch.ash("force-sync", "1", check=False)
    assert error_lines(proc)[0] == (
        "ash: error: snapshot 2: the parent's package files are not in the package cache, and it has no"
        " sync databases to install them from without upgrading it"
    )
    assert "hint: fetch them with 'ash refresh 2' (or upgrade it with 'ash upgrade 2')" in proc.stderr
    arch.ash("refresh", "2")  # which fetches liba 1.1-1's database entry, but installs nothing
    assert arch.packages(2) == {"liba": ("1.0-1", True)}


def test_missing_shell_is_reported(bare, busybox_arch_root):
    """Without /bin/sh pacman cannot run a scriptlet, says so on stderr and still exits 0."""
    bare.init(busybox_arch_root, bare.repo.file_url, before_init=lambda base: (base / "bin/sh").unlink())
    bare.repo.add("scripted", "1.0-1", install=MARKER)
    bare.ash("clone", "0")
    assert "the root has no /bin/sh" in bare.ash.fail("install", "1", "scripted")
    assert bare.packages(1) == {}


def test_stale_database_lock_is_removed(bare, busybox_arch_root):
    lock = "var/lib/pacman/db.lck"
    bare.init(busybox_arch_root, bare.repo.file_url, before_init=lambda base: (base / lock).touch())
    add_app(bare.repo)
    bare.ash("clone", "0")
    bare.ash("install", "1", "appb")
    assert "appb" in bare.packages(1)
    assert not (bare.root(1) / lock).exists()


def _base_packages(repo, *, with_filesystem: bool = True) -> None:
    """A tiny 'base': filesystem (os-release, /bin -> usr/bin) and busybox as /bin/sh."""
    repo.add("filesystem", "1.0-1", {"etc/os-release": 'NAME="Arch Linux"\nID=arch\n'}, links={"bin": "usr/bin"})
    repo.add("busybox", "1.0-1", {"usr/bin/busybox": busybox().read_bytes()}, links={"usr/bin/sh": "busybox"})
    repo.add("base", "1-1", depends=("filesystem", "busybox") if with_filesystem else ("busybox",))


def _bootstrap_config(tmp_path, repo) -> Path:
    config = tmp_path / "bootstrap.conf"
    config.write_text(f"[options]\nArchitecture = auto\nSigLevel = Never\n\n[{repo.name}]\nServer = {repo.file_url}\n")
    return config


def test_bootstrap_from_a_configuration(bare, tmp_path):
    _base_packages(bare.repo)
    add_app(bare.repo)
    bare.repo.add("scripted", "1.0-1", install=MARKER)
    # A stand-in for pacman-key that notes how it is called, in the root it runs in.
    calls = {"usr/bin/pacman-key": '#!/bin/sh\necho "$@" >> /var/lib/pacman-key.calls\n'}
    bare.repo.add("keyring-calls", "1-1", calls)
    config = _bootstrap_config(tmp_path, bare.repo)
    bare.ash("init", "--bootstrap", "arch", "--mirror", config, "--include", "appb", "--include", "keyring-calls")
    assert bare.ash.tree_json()["distro"] == "arch"
    assert bare.packages(0) == {
        "appb": ("1.0-1", True),
        "base": ("1-1", True),
        "busybox": ("1.0-1", False),
        "filesystem": ("1.0-1", False),
        "keyring-calls": ("1-1", True),
        "liba": ("1.0-1", False),
    }
    assert (bare.root(0) / "var/lib/pacman-key.calls").read_text() == "--init\n--populate\n"  # a new keyring
    assert (bare.root(0) / "etc/pacman.conf").read_text() == config.read_text()  # pacman is not in this base
    assert (bare.root(0) / "var/lib/pacman/sync/test.db").is_file()
    bare.ash("clone", "0")
    bare.ash("install", "1", "scripted")  # the host's pacman again, the scriptlet run by the packaged shell
    assert (bare.root(1) / "var/lib/scripted-marker").read_text() == "installed 1.0-1\n"


def test_bootstrap_without_os_release_is_refused(bare, tmp_path):
    _base_packages(bare.repo, with_filesystem=False)
    error = bare.ash.fail("init", "--bootstrap", "arch", "--mirror", _bootstrap_config(tmp_path, bare.repo))
    assert error == "ash: error: the new base has no /etc/os-release"
    assert not bare.ash.snapshot(0).exists()
    assert bare.ash("tree", check=False).returncode != 0


def test_bootstrap_from_a_mirror_checks_signatures(bare, mirror, tmp_path):
    """``--mirror URL`` serves core and extra; packages must be signed (these are not)."""
    mirror("core").add("base", "1-1")
    mirror("extra").add("toolc", "1.0-1")
    error = bare.ash.fail("init", "--bootstrap", "arch", "--mirror", f"file://{tmp_path}/mirror/$repo")
    assert "failed retrieving file 'base-1-1-any.pkg.tar.gz.sig'" in error  # pacman's specific reason
    assert not bare.ash.snapshot(0).exists()


def _test_keyring(repo, version: str) -> str:
    """Package a keyring holding a new signing key as archlinux-keyring ``version``; return the key's
    fingerprint. Debian's pacman-key, which the test root has, reads keyrings from /usr/share/keyrings (Arch's
    from /usr/share/pacman/keyrings)."""
    home = Path(tempfile.mkdtemp(prefix="ash-gpg-"))  # short: gpg-agent's socket lives there
    gpg = ["gpg", "--batch", "--homedir", home]
    try:
        uid = "ash test packager <packager@ash.invalid>"
        subprocess.run(
            [*gpg, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never"],
            check=True,
            capture_output=True,
        )
        public = subprocess.run([*gpg, "--export"], check=True, capture_output=True).stdout
        listing = subprocess.run(
            [*gpg, "--with-colons", "--list-keys"], check=True, capture_output=True, text=True
        ).stdout
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], check=False)
        shutil.rmtree(home)
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    repo.add(
        "archlinux-keyring",
        version,
        {
            "usr/share/keyrings/archlinux.gpg": public,
            "usr/share/keyrings/archlinux-trusted": f"{fingerprint}:4:\n",
        },
    )
    return fingerprint


def test_fixdb_rebuilds_a_broken_keyring_from_the_newest_keyring(bare, keyring_arch_root, repo_server):
    """The keyring package is updated although one is installed (no --needed), and its new key trusted."""
    bare.init(keyring_arch_root, repo_server.url)
    _test_keyring(bare.repo, "1-1")
    bare.ash("clone", "0")
    bare.ash("install", "1", "archlinux-keyring")
    bare.ash("run", "1", "mkdir", "-p", "/etc/pacman.d/gnupg")
    bare.ash("run", "1", "dd", "if=/dev/urandom", "of=/etc/pacman.d/gnupg/pubring.gpg", "bs=1k", "count=8")
    assert bare.ash("run", "1", "pacman-key", "--list-keys", check=False).returncode != 0
    fingerprint = _test_keyring(bare.repo, "2-1")  # a new packager's key, in a newer keyring

    assert "fixdb: snapshot 1 updated" in bare.ash("fixdb", "1").stdout
    assert bare.ash("run", "1", "pacman", "-Q", "archlinux-keyring").stdout == "archlinux-keyring 2-1\n"
    keys = bare.ash("run", "1", "pacman-key", "--list-sigs", fingerprint).stdout
    assert "ash test packager" in keys
    assert "Pacman Keyring Master Key" in keys  # the key is trusted: signed by the new master key


def test_fixdb_needs_pacman_key(bare, busybox_arch_root):
    bare.init(busybox_arch_root, bare.repo.file_url)
    bare.ash("clone", "0")
    assert bare.ash.fail("fixdb", "1") == "ash: error: snapshot 1 has no pacman-key, so no keyring to repair"
