"""The demo run by scripts/demo (which installs what it needs first); see that script."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ash_testing import qemu

from ashcore.install import installer

ASH = [sys.executable, "-m", "ashcore"]


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def ash(sysroot: Path, *args: str) -> str:
    print(f"$ ash {' '.join(args)}", flush=True)
    return subprocess.run([*ASH, "--sysroot", sysroot, *args], check=True, stdout=subprocess.PIPE, text=True).stdout


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def boot(image: Path, firmware: str, log: Path) -> qemu.Boot:
    result = qemu.boot(image, firmware=firmware, log=log, timeout=900)
    if not result.reported:
        sys.exit(f"the guest did not report (log: {log}); its console ended with:\n{result.tail(40)}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--firmware", choices=("bios", "uefi"), default="bios")
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/ash-demo"))
    parser.add_argument("--package", default="hello", help="Debian package to install into the new snapshot")
    args = parser.parse_args()
    work, started = args.workdir, time.monotonic()
    image, overlay = work / f"debian-{args.firmware}.img", work / "overlay"
    work.mkdir(parents=True, exist_ok=True)
    image.unlink(missing_ok=True)
    shutil.rmtree(overlay, ignore_errors=True)
    # The image reports on its serial console and powers off when booted (a unit enabled by ash.report=1).
    qemu.report_overlay(overlay, packages=(args.package,))

    step(f"ash setup: a Debian 12 image for {args.firmware.upper()} (debootstrap from deb.debian.org)")
    subprocess.run(
        [
            *ASH,
            "setup",
            "--image",
            image,
            "--size",
            "8G",
            "--firmware",
            args.firmware,
            "--overlay",
            overlay,
            "--hostname",
            "ash-demo",
            "--root-password",
            "ash",
            "--cache-dir",
            work / "debs",
            "--yes",
        ],
        check=True,
    )
    built = time.monotonic() - started

    step("boot the image as installed (snapshot 0 deployed)")
    as_installed = boot(image, args.firmware, work / "boot-snapshot-0.log")

    step(f"a small tree: 1 = 0 + {args.package}, 2 = a branch of 1; deploy 1")
    with installer.open_system(image) as view:
        for command in (
            ("clone", "0", "--desc", f"with {args.package}"),
            ("refresh", "1"),
            ("install", "1", args.package),
            ("branch", "1", "--desc", "for experiments"),
            ("deploy", "1"),
        ):
            print(ash(view, *command), end="", flush=True)
        tree = ash(view, "tree")

    step("boot the deployed snapshot")
    deployed = boot(image, args.firmware, work / "boot-snapshot-1.log")

    step("ash tree (on the image)")
    print(tree)
    step("what the booted guest reported")
    for key, value in deployed.report.items():
        print(f"{key:>20}: {value}")
    step(f"boot time, QEMU start to the guest's report ({args.firmware.upper()}, TCG, 1 GiB, 2 vCPUs)")
    for name, result in (("snapshot 0, as installed", as_installed), ("snapshot 1, deployed", deployed)):
        kernel = result.first("Linux version")
        print(
            f"{name:>26}: {seconds(result.first(qemu.BEGIN))}  "
            f"(GRUB boots the entry at {seconds(result.first('Booting `'))}, "
            f"kernel {seconds(kernel)}, systemd {seconds(result.first('Welcome to', after=kernel))})"
        )
    print(
        f"{'image built in':>26}: {built:.1f} s; the whole demo took {time.monotonic() - started:.0f} s; logs in {work}"
    )


if __name__ == "__main__":
    main()
