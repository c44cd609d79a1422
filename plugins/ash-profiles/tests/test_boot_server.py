"""The booted proof: an installed Debian system (``ash setup --image``), the ``server`` profile
installed into a snapshot from deb.debian.org, that snapshot deployed, and the QEMU guest (TCG, no
network) reporting that sshd runs. One image for the module, one QEMU at a time."""

from __future__ import annotations

from pathlib import Path

import pytest
from ash_testing import images, qemu
from ash_testing.cli import Ash

from ashcore.install import installer

BOOT_TIMEOUT = 900  # seconds; a boot takes 30-120 s under TCG, depending on the host's load
#: Reports, before ash-report powers the guest off, whether ssh.service came up (it may take a while).
SSHD_REPORT_UNIT = """[Unit]
Description=Report whether sshd runs (ash-profiles boot test)
After=ssh.service
Before=ash-report.service
ConditionKernelCommandLine=ash.report=1

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/ash-report-sshd
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/ttyS0

[Install]
WantedBy=multi-user.target
"""
SSHD_REPORT = """#!/bin/sh
for i in $(seq 60); do systemctl -q is-active ssh && break; sleep 1; done
echo "ASH-REPORT sshd: $(systemctl is-active ssh) $(pidof sshd)"
echo "ASH-REPORT sshd-enabled: $(systemctl is-enabled ssh)"
"""


@pytest.fixture(scope="module")
def image(debian_base: Path, root_tools, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root_tools("qemu-system-x86_64", "sfdisk", "partx", "mkfs.vfat", "mcopy")
    top = tmp_path_factory.mktemp("server-boot")
    overlay = qemu.report_overlay(top / "overlay")
    unit = overlay / "etc/systemd/system/ash-report-sshd.service"
    unit.write_text(SSHD_REPORT_UNIT)
    (overlay / "usr/local/sbin/ash-report-sshd").write_text(SSHD_REPORT)
    (overlay / "usr/local/sbin/ash-report-sshd").chmod(0o755)
    (overlay / "etc/systemd/system/multi-user.target.wants/ash-report-sshd.service").symlink_to(
        "/etc/systemd/system/ash-report-sshd.service"
    )
    return images.build_image(top, "bios", debian_base, overlay, hostname="ashserver")


def test_the_server_profile_deployed_boots_with_sshd_running(image: Path, tmp_path: Path):
    with installer.open_system(image) as view:
        ash = Ash(view)
        base = ash("current").stdout.strip()
        assert ash("clone", "0").stdout == "1\n"
        out = ash("install-profile", "server", "1", timeout=1500).stdout
        assert out.endswith("boot it with 'ash deploy 1'\n"), out
        assert ash("current").stdout.strip() == base, "install-profile deployed nothing"
        ash("deploy", "1")
    result = qemu.boot(image, firmware="bios", log=tmp_path / "boot.log", timeout=BOOT_TIMEOUT)
    context = f"\n--- console tail ({tmp_path / 'boot.log'}) ---\n{result.tail()}"
    assert result.reported, f"the guest never reported (timed out: {result.timed_out}){context}"
    report = result.report
    assert report["current"] == "1" == report["marker"], context
    assert report["sshd"].startswith("active ") and report["sshd"].split()[1].isdigit(), context
    assert report["sshd-enabled"] == "enabled", context
