"""Throwaway ash plugins: their sources written by a test, really built and installed with pip into a
directory that the tested ash imports plugins from; and :data:`TPM`, a package manager for the busybox
test root."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def make_plugin(where: Path, dist: str, module: str, code: str, extra_files: dict[str, str] | None = None) -> Path:
    """Write the source of a distribution ``dist`` whose ``ash.plugins`` entry point is ``module``."""
    src = where / f"src-{dist}"
    (src / module).mkdir(parents=True)
    (src / "pyproject.toml").write_text(
        textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "{dist}"
        version = "1.2.3"
        [project.entry-points."ash.plugins"]
        {module.removeprefix("ash_")} = "{module}"
        [tool.setuptools]
        packages = ["{module}"]
        """)
    )
    (src / module / "__init__.py").write_text(textwrap.dedent(code))
    for name, text in (extra_files or {}).items():
        (src / module / name).write_text(textwrap.dedent(text))
    return src


def pip_install(src: Path, target: Path) -> None:
    """Really build and install a distribution, into a directory that ash then imports plugins from."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-build-isolation",
            "--no-deps",
            "--disable-pip-version-check",
            "--target",
            target,
            src,
        ],
        check=True,
        capture_output=True,
    )


def env_with(site: Path, **extra: str) -> dict:
    """Environment for ``Ash`` calls that see the plugins in ``site`` (before what PYTHONPATH had)."""
    path = os.pathsep.join(filter(None, [os.fspath(site), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path, **extra}


#: A minimal package-manager plugin for the busybox test root (``ID=testos``): one file per package
#: under /var/lib/tpm, holding its version. A stand-in for apt or pacman where a test is about the
#: core around the package hooks; install it with ``make_plugin(..., TPM)`` and ``pip_install``.
TPM = """\
    import json
    from ashcore.api import hookimpl
    from ashcore.api import Package, PackageManagerInfo

    DB = "/var/lib/tpm"

    @hookimpl
    def ash_package_manager():
        return PackageManagerInfo(name="tpm", distros=("testos",), state_paths=("var/lib/tpm",))

    @hookimpl
    def ash_bootstrap(target, options):
        (target / "etc").mkdir()
        (target / "etc/os-release").write_text("ID=testos\\n")
        (target / "etc/bootstrap.json").write_text(json.dumps(
            {"release": options.release, "mirror": options.mirror, "variant": options.variant,
             "packages": list(options.packages)}))

    def _put(chroot, packages, version):
        chroot.run(["mkdir", "-p", DB])
        for p in packages:
            # the package name travels as an argument of the shell, never as part of its script
            chroot.run(["sh", "-c", 'test "$1" != broken && echo "$2" > "/var/lib/tpm/$1"', "sh", p, version])

    @hookimpl
    def ash_install(chroot, packages):
        _put(chroot, packages, "1.0")

    @hookimpl
    def ash_remove(chroot, packages):
        chroot.run(["rm", *(DB + "/" + p for p in packages)])

    @hookimpl
    def ash_upgrade(chroot):
        chroot.run(["sh", "-c", 'for f in /var/lib/tpm/*; do [ -e "$f" ] && echo 2.0 > "$f"; done; true'])

    @hookimpl
    def ash_refresh(chroot):
        chroot.run(["touch", "/var/lib/tpm.refreshed"])

    @hookimpl
    def ash_list_packages(root):
        db = root / DB.lstrip("/")
        return [Package(p.name, p.read_text().strip()) for p in db.iterdir()] if db.is_dir() else []

    @hookimpl
    def ash_sync(chroot, parent, packages):
        for p in packages:
            _put(chroot, [p.name], p.version)
"""
