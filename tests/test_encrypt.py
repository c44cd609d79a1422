"""The installer's encryption step (the ``ash_encrypt`` hook).

This host's kernel has no device-mapper, so no LUKS container can be opened here: the plugin below
is a named test double for dm-crypt. It records how the installer called it and "opens" the
container as a loop device over a file of its own, on which the installer must then build the
filesystem. (A real encrypted root can only be booted inside QEMU.)
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from ash_testing.cli import ASH
from ash_testing.plugins import env_with, make_plugin, pip_install

pytestmark = pytest.mark.usefixtures("root_tools")  # ash setup needs root before it checks anything

DM_CRYPT_STANDIN = """\
    import json, os, subprocess
    from pathlib import Path
    from ashcore.api import hookimpl

    @hookimpl
    def ash_encrypt(device, passphrase, name):
        Path(os.environ["ASH_TEST_ENCRYPT_RECORD"]).write_text(
            json.dumps({"device": str(device), "passphrase": passphrase, "name": name}))
        opened = subprocess.run(["losetup", "--find", "--show", os.environ["ASH_TEST_OPENED"]],
                                check=True, capture_output=True, text=True).stdout.strip()
        Path(os.environ["ASH_TEST_ENCRYPT_RECORD"] + ".loop").write_text(opened)
        return Path(opened)
"""


def setup(*args, env: dict) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ASH, "setup", *map(os.fspath, args)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
    )


def test_hook_ash_encrypt(tmp_path, busybox_root, plugin_site, root_tools):
    root_tools("sfdisk", "partx", "blkid")
    pip_install(make_plugin(tmp_path, "ash-dmcrypt-standin", "ash_dmcrypt_standin", DM_CRYPT_STANDIN), plugin_site)
    opened, record = tmp_path / "opened.img", tmp_path / "record.json"
    with open(opened, "wb") as f:
        f.truncate(4 << 30)
    env = env_with(plugin_site, ASH_TEST_OPENED=str(opened), ASH_TEST_ENCRYPT_RECORD=str(record))
    image = tmp_path / "disk.img"
    try:
        out = setup("--image", image, "--from", busybox_root, "--encrypt", "--passphrase", "s3cret;$(x)", "-y", env=env)
    finally:
        loop = Path(str(record) + ".loop")
        if loop.exists():
            subprocess.run(["losetup", "-d", loop.read_text()], check=False)
    # The busybox root has no python3, so the install stops after the filesystem was made.
    assert out.returncode == 1 and "no python3" in out.stderr, out.stderr
    called = json.loads(record.read_text())
    assert called["passphrase"] == "s3cret;$(x)" and called["name"] == "ash-root"
    assert Path(called["device"]).name.endswith("p1"), "the root partition of the new image is encrypted"
    probe = subprocess.run(["blkid", "-o", "export", opened], capture_output=True, text=True, check=True).stdout
    assert "TYPE=btrfs" in probe and "LABEL=ash" in probe, "the filesystem went onto the opened device"


def test_encrypt_refusals(tmp_path, busybox_root):
    image = tmp_path / "disk.img"
    out = setup("--image", image, "--from", busybox_root, "--encrypt", "--passphrase", "x", "-y", env={})
    assert out.returncode == 1
    assert out.stderr.splitlines()[0] == "ash: error: encryption needs an encryption plugin, and none is installed"
    out = setup("--image", image, "--from", busybox_root, "--encrypt", "-y", env={})
    assert out.returncode == 2 and "--encrypt needs a passphrase" in out.stderr.splitlines()[0]
    assert not image.exists()
