"""Deploy, rollback, the atomic switch, user hooks, etc-update and live-chroot, through the real CLI and
the real ash-grub plugin, on a real btrfs store whose snapshots carry (dummy) kernels.

What GRUB would boot is read back from the generated grub.cfg (:func:`grub_default`): the default
entry's kernel, initramfs and ``rootflags=subvol=`` must all exist on the filesystem.
"""

from __future__ import annotations

import json
import shutil

import pytest
from ash_testing.deploys import KERNEL, booted_view, deploy_state, deployments, fs_uuid, grub_default, store_digest
from ash_testing.plugins import TPM, env_with, make_plugin, pip_install
from ash_testing.snapshots import digest

from ashcore.fs import btrfs


def test_deploy_makes_a_deployment_and_the_menu(system):
    system("clone", "0", "--desc", "workstation")
    out = system("deploy", "1")
    assert out.stdout == "deployed snapshot 1 (deployment 1-1); it boots next\n"
    assert grub_default(system) == (1, "1-1")
    assert system("current").stdout == "1\n"
    assert "└── 1*- workstation" in system("tree").stdout
    root = system.store / "deploy/1-1"
    assert not btrfs.is_readonly(root), "a deployment is writable; it is mounted read-only"
    assert (root / "usr/lib/ash/snapshot").read_text() == "1\n"
    uuid = fs_uuid(system)
    sub = f"{system.sysroot.name}/.snapshots"
    fstab = (root / "etc/fstab").read_text().splitlines()
    assert fstab[1:7] == [
        f"UUID={uuid} / btrfs subvol={sub}/deploy/1-1,ro,noatime 0 0",
        f"UUID={uuid} /.snapshots btrfs subvol={sub},noatime 0 0",
        f"UUID={uuid} /home btrfs subvol={system.sysroot.name}/home,noatime 0 0",
        f"UUID={uuid} /var btrfs subvol={system.sysroot.name}/var,noatime 0 0",
        "tmpfs /tmp tmpfs nosuid,nodev,mode=1777 0 0",
        "/.snapshots/deploy/1-1/etc /etc none bind 0 0",
    ]
    assert not (system.snapshot(1) / "usr/lib/ash/snapshot").exists(), "the snapshot itself is untouched"
    cfg = (system.store / "boot/grub/grub.cfg").read_text()
    assert "set timeout=3" in cfg and "console=ttyS0,115200" in cfg
    assert f"/boot/vmlinuz-{KERNEL} " in cfg and "vmlinuz-5.10" not in cfg, "the newest kernel only"
    assert "snapshot 0 - base snapshot" in cfg and "snapshot 1 - workstation" in cfg
    assert f"rootflags=subvol={sub}/rootfs/snapshot-0 " in cfg, "each snapshot boots from its own subvolume"


def test_mutable_snapshot_deploys_writable(system):
    system("clone", "0")
    system("mutable", "1")
    system("deploy", "1")
    assert ",rw,noatime 0 0" in (system.store / "deploy/1-1/etc/fstab").read_text().splitlines()[1]


def test_previous_deployment_stays_bootable_and_old_ones_go(system):
    for _ in range(3):
        system("clone", "0")
    system("deploy", "1")
    system("deploy", "2")
    cfg = (system.store / "boot/grub/grub.cfg").read_text()
    assert "last booted deployment (snapshot 1)" in cfg and "/deploy/1-1/boot/" in cfg
    system("deploy", "3")
    assert deployments(system) == ["2-2", "3-3"], "only the default and the previous deployment are kept"
    assert deploy_state(system)["previous"] == {"id": "2-2", "snapshot": 2}
    out = system("del", "-y", "3", check=False)
    assert out.returncode == 2 and "deployed" in out.stderr


def test_rollback(system):
    system("clone", "0")
    system("clone", "0")
    assert system("rollback", check=False).stderr.startswith("ash: error: there is no previous deployment")
    system("deploy", "1")
    system("deploy", "2")
    assert system("rollback").stdout == "rolled back to snapshot 1 (deployment 1-1); it boots next\n"
    assert grub_default(system) == (1, "1-1")
    assert "last booted deployment (snapshot 2)" in (system.store / "boot/grub/grub.cfg").read_text()
    system("rollback")
    assert grub_default(system) == (2, "2-2")
    assert deployments(system) == ["1-1", "2-2"]


def test_the_snapshot_menu_follows_deletions_and_new_kernels(system):
    system("clone", "0")
    system("clone", "0")
    system("deploy", "1")
    cfg = system.store / "boot/grub/grub.cfg"
    assert "'snapshot 2 - clone of 0'" in cfg.read_text()
    system("del", "-y", "2")
    assert "snapshot 2" not in cfg.read_text(), "a deleted snapshot leaves the menu with it"
    system("run", "1", "sh", "-c", "echo new > /boot/vmlinuz-9.9.9 && echo new > /boot/initrd.img-9.9.9")
    submenu = cfg.read_text().split("submenu ", 1)[1]
    assert "rootfs/snapshot-1/boot/vmlinuz-9.9.9" in submenu, "a snapshot's entry boots its newest kernel"


def test_shared_var_gets_what_is_missing_and_keeps_what_it_has(system, tmp_path, plugin_site):
    pip_install(make_plugin(tmp_path, "ash-tpm", "ash_tpm", TPM), plugin_site)  # its database: /var/lib/tpm
    (system.sysroot / "var/log").mkdir()
    (system.sysroot / "var/log/base.log").write_text("the running system's log\n")
    system("clone", "0")
    system("run", "1", "sh", "-c", "mkdir -p /var/lib/newpkg && echo state > /var/lib/newpkg/db")
    system("run", "1", "sh", "-c", "mkdir -p /var/lib/tpm && echo 1.0 > /var/lib/tpm/vim")
    system("deploy", "1", env=env_with(plugin_site))
    assert (system.sysroot / "var/lib/newpkg/db").read_text() == "state\n"
    assert (system.sysroot / "var/log/base.log").read_text() == "the running system's log\n"
    assert list((system.sysroot / "var/lib/tpm").iterdir()) == [], (
        "a package database is never shared, only mounted over"
    )


def test_user_hooks(system, tmp_path):
    hooks = system.sysroot / "etc/ash/hooks"
    (hooks / "pre-deploy.d").mkdir(parents=True)
    (hooks / "post-deploy.d").mkdir(parents=True)
    log = tmp_path / "hooks.log"
    for name in ("pre-deploy.d/10-record", "pre-deploy.d/20-record", "post-deploy.d/10-record"):
        script = hooks / name
        script.write_text(
            f'#!/bin/sh\necho "{name} $ASH_SNAPSHOT $ASH_SYSROOT $ASH_DEPLOYMENT'
            f' $(cat "$ASH_DEPLOYMENT/usr/lib/ash/snapshot")" >> {log}\n'
        )
        script.chmod(0o755)
    (hooks / "pre-deploy.d/15-not-executable").write_text("#!/bin/sh\nexit 1\n")
    system("clone", "0")
    system("deploy", "1")
    root = system.store / "deploy/1-1"
    assert log.read_text().splitlines() == [
        f"{name} 1 {system.sysroot} {root} 1"
        for name in ("pre-deploy.d/10-record", "pre-deploy.d/20-record", "post-deploy.d/10-record")
    ]
    failing = hooks / "post-deploy.d/20-fail"
    failing.write_text("#!/bin/sh\nexit 3\n")
    failing.chmod(0o755)
    system("clone", "0")
    out = system("deploy", "2")
    assert "post-deploy hook" in out.stderr and "status 3" in out.stderr
    assert grub_default(system) == (2, "2-2"), "a failing post-deploy hook leaves the deployment"
    failing.rename(hooks / "pre-deploy.d/12-fail")
    before = store_digest(system)
    out = system("deploy", "1", check=False)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("ash: error: pre-deploy hook")
    assert store_digest(system) == before, "a failing pre-deploy hook changes nothing"


def test_snapshot_without_kernel_is_refused(system):
    system("deploy", "0")
    system("clone", "0")
    system("run", "1", "sh", "-c", "rm /boot/vmlinuz-*")
    before = store_digest(system)
    out = system("deploy", "1", check=False)
    assert out.returncode == 1 and "snapshot 1 has no kernel with an initramfs" in out.stderr
    assert store_digest(system) == before


def test_deploy_needs_exactly_one_bootloader(system, tmp_path, plugin_site):
    system("clone", "0")
    out = system("deploy", "1", check=False, env={"ASH_DISABLED_PLUGINS": "grub"})
    assert out.stderr.startswith("ash: error: a deploy needs exactly one bootloader plugin, found none\n")
    pip_install(make_plugin(tmp_path, "ash-other", "ash_otherboot", BOOTLOADER_PLUGIN), plugin_site)
    out = system("deploy", "1", check=False, env=env_with(plugin_site))
    assert "exactly one bootloader plugin, found " in out.stderr and "grub" in out.stderr and "otherboot" in out.stderr
    assert not (system.store / "deploy").exists()


# A bootloader plugin that records what it is told (in the store), standing in for a second bootloader.
BOOTLOADER_PLUGIN = """\
    import json
    from ashcore.api import hookimpl

    def _record(context, name, **extra):
        out = context.store / f"{name}.json"
        seen = json.loads(out.read_text()) if out.exists() else []
        seen.append({"snapshot": context.snapshot, "deployment": str(context.deployment),
                     "previous": context.previous, **extra})
        out.write_text(json.dumps(seen))

    @hookimpl
    def ash_pre_deploy(context):
        if (context.deployment / "refuse-me").exists():
            raise RuntimeError("this snapshot is refused")
        _record(context, "pre_deploy", exists=context.deployment.is_dir())

    @hookimpl
    def ash_bootloader_update(context):
        if (context.deployment / "break-bootloader").exists():
            raise OSError(28, "No space left on device")
        _record(context, "bootloader_update", default=str(context.default.root),
                fallback=str(context.fallback.root) if context.fallback else None,
                snapshots=[s.snapshot for s in context.snapshots])

    @hookimpl
    def ash_post_deploy(context):
        _record(context, "post_deploy")
"""


@pytest.fixture
def recorder(system, tmp_path, plugin_site):
    """ash with the recording bootloader plugin instead of ash-grub."""
    pip_install(make_plugin(tmp_path, "ash-recorder", "ash_recorder", BOOTLOADER_PLUGIN), plugin_site)
    env = env_with(plugin_site, ASH_DISABLED_PLUGINS="grub")

    def ash(*args, **kw):
        return system(*args, env=env, **kw)

    return ash


def recorded(system, name):
    return json.loads((system.store / f"{name}.json").read_text())


def test_hook_ash_pre_deploy(system, recorder):
    recorder("clone", "0")
    recorder("deploy", "1")
    assert recorded(system, "pre_deploy") == [
        {"snapshot": 1, "deployment": str(system.store / "deploy/1-1"), "previous": None, "exists": True}
    ]
    recorder("run", "1", "touch", "/refuse-me")
    before = store_digest(system)
    out = recorder("deploy", "1", check=False)
    assert out.returncode == 1 and "this snapshot is refused" in out.stderr
    assert store_digest(system) == before


def test_hook_ash_bootloader_update(system, recorder):
    recorder("clone", "0")
    recorder("deploy", "1")
    recorder("deploy", "0")
    recorder("rollback")
    calls = recorded(system, "bootloader_update")
    dep = lambda i: str(system.store / "deploy" / i)  # noqa: E731
    assert calls == [
        {
            "snapshot": 1,
            "deployment": dep("1-1"),
            "previous": None,
            "default": dep("1-1"),
            "fallback": None,
            "snapshots": [0, 1],
        },
        {
            "snapshot": 0,
            "deployment": dep("0-2"),
            "previous": 1,
            "default": dep("0-2"),
            "fallback": dep("1-1"),
            "snapshots": [0, 1],
        },
        {
            "snapshot": 1,
            "deployment": dep("1-1"),
            "previous": 0,
            "default": dep("1-1"),
            "fallback": dep("0-2"),
            "snapshots": [0, 1],
        },
    ]


def test_a_default_deployment_deleted_behind_ashs_back_is_reported_until_deployed_again(system):
    """The deployment that boots by default deleted outside ash: a change says why the menu was not
    rewritten, 'ash check' fails naming it and what to do, and 'ash deploy' makes it bootable again."""
    system("clone", "0")
    system("deploy", "1")
    (gone,) = deployments(system)
    btrfs.delete(system.store / "deploy" / gone)
    out = system("run", "1", "true")
    assert out.stderr == (
        f"ash: warning: the boot menu was not updated (the deployment {gone} that boots by default (snapshot 1)"
        " is missing); the next deploy rewrites it\n"
    )
    check = system("check", check=False)
    assert check.returncode == 1 and check.stderr == (
        f"ash: error: the deployment {gone} that boots by default (snapshot 1) is missing: the machine cannot boot"
        " it\nhint: deploy it again: 'ash deploy 1'\n"
    )
    system("deploy", "1")
    assert grub_default(system)[0] == 1
    assert system("check").stdout.endswith("nothing to repair\n")


def test_failing_bootloader_changes_nothing(system, recorder):
    recorder("clone", "0")
    recorder("deploy", "0")
    recorder("deploy", "1")
    recorder("run", "1", "touch", "/break-bootloader")
    (system.store / "deploy/0-1/break-bootloader").touch()  # the deployment a rollback would boot
    state, kept = deploy_state(system), deployments(system)
    for command in (("deploy", "1"), ("rollback",)):
        out = recorder(*command, check=False)
        assert out.returncode == 1 and "No space left on device" in out.stderr
        assert deploy_state(system) == state and deployments(system) == kept


def test_hook_ash_post_deploy(system, recorder):
    recorder("clone", "0")
    recorder("deploy", "1")
    assert [c["snapshot"] for c in recorded(system, "post_deploy")] == [1]
    assert deploy_state(system)["bootloader_pending"] is False


# -- crash safety ----------------------------------------------------------------------------------

DEPLOY_POINTS = [
    "deploy:created",
    "deploy:prepared",
    "write:deploy.json",
    "deploy:pending",
    "write:grub.cfg",
    "deploy:bootloader",
    "deploy:switched",
    "deploy:collected",
]


@pytest.mark.parametrize("point", DEPLOY_POINTS)
def test_power_cut_at_every_step_of_a_deploy_boots_old_or_new(system, point):
    """SIGKILL ash at each step of deploying 3 over 2 (1 is the previous); GRUB must boot 2 or 3, and
    the next ash run must finish or forget the deploy so that everything agrees again."""
    for _ in range(3):
        system("clone", "0")
    system("deploy", "1")
    system("deploy", "2")
    killed = system("deploy", "3", check=False, env={"ASH_FAILPOINT": point})
    assert killed.returncode == -9, killed
    booted, _ = grub_default(system)
    assert booted in (2, 3)
    system("tmp")  # any command that changes the store first finishes an interrupted deploy
    after, dep = grub_default(system)
    assert after == booted or (booted, after) == (2, 3), "what boots never goes back once switched"
    state = deploy_state(system)
    assert state["bootloader_pending"] is False
    assert (state["snapshot"], state["default"]["id"]) == (after, dep)
    assert system("current").stdout == f"{after}\n"
    system("deploy", "3")
    assert grub_default(system)[0] == 3
    assert deployments(system) == sorted([state["default"]["id"], deploy_state(system)["default"]["id"]]), (
        "the next deploy removes whatever the interrupted one left"
    )


@pytest.mark.parametrize("point", ["write:deploy.json", "deploy:pending", "write:grub.cfg", "deploy:bootloader"])
def test_power_cut_during_rollback(system, point):
    system("clone", "0")
    system("deploy", "0")
    system("deploy", "1")
    assert system("rollback", check=False, env={"ASH_FAILPOINT": point}).returncode == -9
    assert grub_default(system)[0] in (0, 1)
    system("tmp")
    assert grub_default(system)[0] == deploy_state(system)["snapshot"]


# -- the running system ----------------------------------------------------------------------------


@pytest.fixture
def booted(system):
    """The booted deployment of snapshot 1 (see :func:`booted_view`)."""
    system("clone", "0")
    system("deploy", "1")
    with booted_view(system, "1-1") as ash:
        yield ash


def test_booted_system_knows_what_it_runs(system, booted):
    system("clone", "0")
    system("deploy", "2")
    assert booted("current").stdout == "1\n"
    assert json.loads(booted("current", "--json").stdout) == {"current": 1, "booted": 1, "deployed": 2}
    out = booted("del", "-y", "1", check=False)
    assert out.returncode == 2 and "booted" in out.stderr
    booted("deploy", "2")
    assert set(deployments(system)) == {"1-1", "2-3"}, "the booted deployment is the previous one and is kept"


def test_etc_update_saves_running_etc_into_its_snapshot(system, booted):
    (booted.sysroot / "etc/motd").write_text("changed on the running system\n")
    (booted.sysroot / "etc/passwd").unlink()
    with open(booted.sysroot / "etc/fstab", "a") as f:
        f.write("/dev/sdb1 /data ext4 defaults 0 2\n")
    assert booted("etc-update").stdout == "etc-update: /etc saved into snapshot 1\n"
    etc = system.snapshot(1) / "etc"
    assert (etc / "motd").read_text() == "changed on the running system\n"
    assert not (etc / "passwd").exists()
    fstab = (etc / "fstab").read_text()
    assert "/dev/sdb1 /data ext4 defaults 0 2" in fstab, "the user's own lines are kept"
    assert "/deploy/" not in fstab and " / btrfs ro,noatime 0 0" in fstab, "the snapshot gets a snapshot's lines"
    assert btrfs.is_readonly(system.snapshot(1))
    out = system("etc-update", check=False)
    assert out.returncode == 1 and "is not a booted ash deployment" in out.stderr


def test_etc_update_refuses_a_snapshot_changed_since_its_deploy(system, booted):
    system("run", "1", "sh", "-c", "echo new > /etc/newpkg.conf && echo 'svc:x:900:900::/:/bin/false' >> /etc/passwd")
    (booted.sysroot / "etc/motd").write_text("changed on the running system\n")
    before = digest(system.snapshot(1))
    out = booted("etc-update", check=False)
    assert out.returncode == 1
    assert out.stderr.splitlines()[0] == (
        "ash: error: snapshot 1 has changed since it was deployed (a package operation or 'ash run' on it): "
        "saving the running /etc into it would undo that change's /etc"
    )
    assert digest(system.snapshot(1)) == before, "the change made after the deploy is kept"
    system("deploy", "1")  # in step again: the new deployment has the snapshot's /etc
    assert "svc:x:900" in (system.store / f"deploy/{deploy_state(system)['default']['id']}/etc/passwd").read_text()


def test_etc_update_refuses_the_base_with_a_way_out(system):
    system("deploy", "0")
    with booted_view(system, "0-1") as booted:
        out = booted("etc-update", check=False)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "ash: error: cannot save /etc into snapshot 0: it is the base",
        "hint: copy the files you changed into a clone ('ash clone 0', then 'ash chroot <new>') and deploy that",
    ]


def test_live_chroot_changes_the_running_deployment_only(system, booted):
    out = booted("live-chroot", input="touch /live-change; echo $ASH_SNAPSHOT\n")
    assert out.stdout.strip() == "1"
    assert (system.store / "deploy/1-1/live-change").exists()
    assert not (system.snapshot(1) / "live-change").exists()
    system("deploy", "1")
    assert not (system.store / f"deploy/{deploy_state(system)['default']['id']}/live-change").exists()


def test_live_install_reaches_the_running_system(system, booted, tmp_path, plugin_site):
    pip_install(make_plugin(tmp_path, "ash-tpm", "ash_tpm", TPM), plugin_site)
    env = env_with(plugin_site)
    booted("install", "--live", "1", "vim", env=env)
    assert (system.snapshot(1) / "var/lib/tpm/vim").read_text() == "1.0\n"
    assert (system.store / "deploy/1-1/var/lib/tpm/vim").read_text() == "1.0\n", "the running deployment has it now"
    assert booted("etc-update", env=env).returncode == 0, "the deployment kept in step with its snapshot"
    system("clone", "0")
    before = digest(system.snapshot(2))
    out = booted("install", "--live", "2", "emacs", env=env, check=False)
    assert out.returncode == 2 and "--live installs only into the snapshot the system runs, 1, not 2" in out.stderr
    assert digest(system.snapshot(2)) == before
    out = system("install", "--live", "1", "nano", env=env, check=False)
    assert out.returncode == 1 and "is not a booted ash deployment" in out.stderr
    assert not (system.snapshot(1) / "var/lib/tpm/nano").exists()


# -- links in a snapshot lead within it, never to the host -------------------------------------


def test_deploy_writes_through_a_snapshots_links_only_within_it(system, tmp_path):
    """Absolute links in a snapshot mean its own files: what deploy writes (the fstab, the markers,
    the mount points) and the /var it seeds from never reach the host paths of the same names."""
    host = tmp_path / "host"
    (host / "ash").mkdir(parents=True)
    (host / "var/secret").mkdir(parents=True)
    (host / "var/secret/key").write_text("the host's\n")
    (host / "fstab").write_text("# the host's fstab\n")
    before = digest(host)
    system("clone", "0")
    system("mutable", "1")
    snap = system.snapshot(1)
    (snap / "etc/fstab").symlink_to(host / "fstab")
    (snap / "usr/lib").mkdir(parents=True, exist_ok=True)
    (snap / "usr/lib/ash").symlink_to(host / "ash")
    (snap / "home").symlink_to(host / "home")
    shutil.rmtree(snap / "var")
    (snap / "var").symlink_to(host / "var")
    system("deploy", "1")
    assert digest(host) == before, "no host file was written"
    assert not (host / "home").exists()
    root = system.store / "deploy/1-1"
    inside = root / host.relative_to("/")  # where the links lead within the deployment
    assert (inside / "ash/snapshot").read_text() == "1\n" and (inside / "ash/deployment").read_text() == "1-1\n"
    assert "/deploy/1-1,rw,noatime" in (root / "etc/fstab").read_text(), "the link is replaced by ash's file"
    assert (inside / "home").is_dir() and (inside / "var").is_dir()
    assert not (system.sysroot / "var/secret").exists(), "the shared /var got nothing of the host's"
    assert grub_default(system) == (1, "1-1")
    system("clone", "0")  # 2: only /etc/fstab and the markers lead out (a booted view mounts over /home and /var)
    system("mutable", "2")
    (system.snapshot(2) / "etc/fstab").symlink_to(host / "fstab")
    (system.snapshot(2) / "usr/lib").mkdir(parents=True, exist_ok=True)
    (system.snapshot(2) / "usr/lib/ash").symlink_to(host / "ash")
    system("deploy", "2")
    with booted_view(system, "2-2") as booted:
        assert json.loads(booted("current", "--json").stdout)["booted"] == 2, "the markers are read within it too"
        (booted.sysroot / "etc/fstab").unlink()
        (booted.sysroot / "etc/fstab").symlink_to(host / "fstab")  # made on the running system
        booted("etc-update")
    assert digest(host) == before
    assert " / btrfs ro,noatime 0 0" in (system.snapshot(2) / "etc/fstab").read_text()


def test_boot_through_a_link_boots_the_snapshots_own_kernel(system, tmp_path):
    """A snapshot whose /boot is a link: GRUB is given the real path of the kernel inside the
    snapshot; one whose /boot leads to a host-only directory has no kernel, whatever the host has."""
    host_boot = tmp_path / "host-boot"
    host_boot.mkdir()
    for name in ("vmlinuz-9.9.9-host", "initrd.img-9.9.9-host"):
        (host_boot / name).write_text(name)
    for _ in range(2):
        system("clone", "0")
        system("mutable", str(_ + 1))
    (system.snapshot(1) / "boot").rename(system.snapshot(1) / "boot-real")
    (system.snapshot(1) / "boot").symlink_to("/boot-real")
    shutil.rmtree(system.snapshot(2) / "boot")
    (system.snapshot(2) / "boot").symlink_to(host_boot)
    system("deploy", "0")
    before = store_digest(system)
    out = system("deploy", "2", check=False)
    assert out.returncode == 1 and "snapshot 2 has no kernel with an initramfs" in out.stderr
    assert store_digest(system) == before
    system("deploy", "1")
    assert grub_default(system) == (1, "1-2")
    cfg = (system.store / "boot/grub/grub.cfg").read_text()
    assert (
        f"/deploy/1-2/boot-real/vmlinuz-{KERNEL} " in cfg and f"/rootfs/snapshot-1/boot-real/vmlinuz-{KERNEL} " in cfg
    )
    assert "9.9.9-host" not in cfg
    assert "# snapshot 2: no kernel with an initramfs" in cfg


def test_the_fallback_deployments_snapshot_cannot_be_deleted(system):
    """After a rollback the tree still holds what ``current`` names, and the menu's fallback boots."""
    system("clone", "0")
    system("clone", "0")
    system("deploy", "1")
    system("deploy", "2")
    refused = system("del", "-y", "1", check=False)
    assert refused.returncode == 2 and "it is the fallback deployment's snapshot" in refused.stderr
    system("rollback")
    assert system("current").stdout == "1\n"
    assert {1, 2} <= system.ids()
