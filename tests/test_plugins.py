"""Plugin discovery through real distributions with real entry points, installed with pip."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ash_testing.plugins import env_with, make_plugin, pip_install

HELLO = """\
    from ashcore.api import hookimpl
    from ashcore.api import CommandSpec

    @hookimpl
    def ash_commands():
        return [CommandSpec(name="hello", help="Say hello from a third-party plugin.", target="ash_hello.cli:app")]

    @hookimpl
    def ash_chroot_enter(chroot):
        (chroot.root / "hello-plugin-was-here").write_text(str(chroot.snapshot))
"""
HELLO_CLI = """\
    import typer
    app = typer.Typer()

    @app.command()
    def hello(name: str = "world"):
        print(f"hello {name}")
"""


def test_third_party_plugin_is_found_called_and_listed(store, tmp_path, plugin_site):
    pip_install(make_plugin(tmp_path, "ash-hello", "ash_hello", HELLO, {"cli.py": HELLO_CLI}), plugin_site)
    env = env_with(plugin_site)
    records = {r["name"]: r for r in json.loads(store("plugins", "--json", env=env).stdout)}
    assert records["hello"]["distribution"] == "ash-hello"
    assert records["hello"]["version"] == "1.2.3"
    assert records["hello"]["third_party"] is True
    assert records["hello"]["hooks"] == ["ash_chroot_enter", "ash_commands"]
    assert records["hello"]["api"] is None and records["grub"]["api"] == "ashcore<0.2,>=0.1"  # what each requires
    listed = store("plugins", env=env).stdout
    assert "hello: ash-hello 1.2.3 (third-party), for an unstated plugin API\n" in listed
    assert "grub: ash-grub 0.1.0, for ashcore<0.2,>=0.1\n" in listed
    assert "hello" in store("--help", env=env).stdout
    assert store("hello", "--name", "ash", env=env).stdout == "hello ash\n"
    store("clone", "0")
    store("run", "1", "true", env=env)
    assert (store.snapshot(1) / "hello-plugin-was-here").read_text() == "1"
    disabled = json.loads(store("--no-third-party-plugins", "plugins", "--json", env=env).stdout)
    assert "hello" not in {r["name"] for r in disabled}
    by_env = json.loads(store("plugins", "--json", env=env_with(plugin_site, ASH_NO_THIRD_PARTY_PLUGINS="1")).stdout)
    assert "hello" not in {r["name"] for r in by_env}
    blocked = json.loads(store("plugins", "--json", env=env_with(plugin_site, ASH_DISABLED_PLUGINS="hello")).stdout)
    assert "hello" not in {r["name"] for r in blocked}


@pytest.mark.parametrize(
    "code, expected",
    [
        ("import no_such_module_anywhere\n", "failed to load (ModuleNotFoundError"),
        ("raise RuntimeError('boom at import')\n", "failed to load (RuntimeError: boom at import)"),
        (
            "from ashcore.api import hookimpl\n@hookimpl\ndef ash_instal(chroot, packages):\n    pass\n",
            "unknown hook 'ash_instal'",
        ),
        (
            "from ashcore.api import hookimpl\n@hookimpl\ndef ash_install(chroot, packages, dry_run):\n    pass\n",
            "dry_run",
        ),
    ],
    ids=["missing-import", "raises", "unknown-hook", "bad-signature"],
)
def test_broken_plugin_only_warns(store, tmp_path, plugin_site, code, expected):
    pip_install(make_plugin(tmp_path, "ash-broken", "ash_broken", code), plugin_site)
    env = env_with(plugin_site)
    out = store("plugins", env=env)
    warnings = [line for line in out.stderr.splitlines() if line.startswith("ash: warning:")]
    assert len(warnings) == 1, out.stderr
    assert "'broken'" in warnings[0] and expected in warnings[0]
    help_out = store("--help", env=env)
    assert "clone" in help_out.stdout
    store("clone", "0", env=env)
    store("run", "1", "true", env=env)
    quiet = store("plugins", env=env_with(plugin_site, ASH_DISABLED_PLUGINS="broken"))
    assert "warning" not in quiet.stderr


def test_broken_plugin_command_only_warns(store, tmp_path, plugin_site):
    code = HELLO.replace("ash_hello.cli:app", "ash_hello.nope:app")
    pip_install(make_plugin(tmp_path, "ash-hello", "ash_hello", code), plugin_site)
    out = store("hello", env=env_with(plugin_site), check=False)
    assert out.returncode == 2
    assert "command 'hello' (ash_hello.nope:app) failed to load" in out.stderr
    assert store("tree", env=env_with(plugin_site)).returncode == 0


def test_plugin_command_cannot_shadow_builtin(store, tmp_path, plugin_site):
    code = HELLO.replace('name="hello"', 'name="tree"')
    pip_install(make_plugin(tmp_path, "ash-hello", "ash_hello", code, {"cli.py": HELLO_CLI}), plugin_site)
    out = store("tree", env=env_with(plugin_site))
    assert out.stdout.startswith("root - root")


CLAIMS = """\
    from ashcore.api import hookimpl
    from ashcore.api import PackageManagerInfo

    @hookimpl
    def ash_package_manager():
        return PackageManagerInfo(name="{name}", distros=("testos",))

    @hookimpl
    def ash_install(chroot, packages):
        chroot.run(["touch", *("/installed-" + p for p in packages)])
"""


def test_package_manager_selected_by_os_release(store, tmp_path, plugin_site):
    pip_install(make_plugin(tmp_path, "ash-tpm", "ash_tpm", CLAIMS.format(name="tpm")), plugin_site)
    store("clone", "0")
    store("install", "1", "a;b", "$(x)", env=env_with(plugin_site))
    assert sorted(p.name for p in store.snapshot(1).glob("installed-*")) == ["installed-$(x)", "installed-a;b"]


def test_two_plugins_claiming_a_distro_is_an_error(store, tmp_path, plugin_site):
    pip_install(make_plugin(tmp_path, "ash-tpm", "ash_tpm", CLAIMS.format(name="tpm")), plugin_site)
    pip_install(make_plugin(tmp_path, "ash-tpm2", "ash_tpm2", CLAIMS.format(name="tpm2")), plugin_site)
    store("clone", "0")
    out = store("install", "1", "x", env=env_with(plugin_site), check=False)
    assert out.returncode == 1
    assert "plugins tpm and tpm2 both claim distribution 'testos'" in out.stderr
    assert not list(store.snapshot(1).glob("installed-*"))


def test_no_plugin_for_distro_names_the_candidates(store):
    store("clone", "0")
    out = store("install", "1", "x", check=False)
    assert out.returncode == 1
    line = out.stderr.splitlines()[0]
    assert line.startswith("ash: error: no plugin manages distribution 'testos' (considered:")


def test_hook_ash_chroot_enter(store, tmp_path, plugin_site):
    pip_install(make_plugin(tmp_path, "ash-hello", "ash_hello", HELLO, {"cli.py": HELLO_CLI}), plugin_site)
    store("clone", "0")
    store("run", "1", "true", env=env_with(plugin_site))
    assert (store.snapshot(1) / "hello-plugin-was-here").read_text() == "1"


def test_hook_ash_commands(store, tmp_path, plugin_site):
    pip_install(make_plugin(tmp_path, "ash-hello", "ash_hello", HELLO, {"cli.py": HELLO_CLI}), plugin_site)
    assert store("hello", env=env_with(plugin_site)).stdout == "hello world\n"


def test_the_plugin_in_the_docs_works_as_written(store, tmp_path, plugin_site):
    """docs/plugins.md's example, its files taken from the page itself, installed with pip."""
    page = (Path(__file__).parents[1] / "docs/plugins.md").read_text().split("## Tutorial")[0]
    blocks = re.findall(r"^```(?:toml|python)\n# (\S+)[^\n]*\n(.*?)^```", page, re.M | re.S)
    assert [name for name, _ in blocks] == ["pyproject.toml", "ash_hello/__init__.py", "ash_hello/cli.py"]
    for name, text in blocks:
        (tmp_path / "ash-hello" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "ash-hello" / name).write_text(text)
    pip_install(tmp_path / "ash-hello", plugin_site)
    env = env_with(plugin_site)
    assert store("hello", "--name", "bob", env=env).stdout == "hello bob\n"
    store("clone", "0")
    assert store("run", "1", "cat", "/etc/hello", env=env).stdout == "hi\n"
    assert not (store.snapshot(1) / "etc/hello").exists(), "the hook undid what it added"
    store("run", "1", "rm", "/etc/hello", env=env)  # the command removing it is fine too
    store("run", "1", "sh", "-c", "echo mine > /etc/hello")
    store("run", "1", "true", env=env)
    assert (store.snapshot(1) / "etc/hello").read_text() == "mine\n", "a file the snapshot has is left alone"
