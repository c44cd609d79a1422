"""Which plugins ash trusts as its own, decided by what they are: the module an entry point names
and the distribution that ships it, never a distribution name alone; and two plugins of one name."""

from __future__ import annotations

import json

from ash_testing.plugins import env_with, make_plugin, pip_install

QUIET = "from ashcore.api import hookimpl\n\n@hookimpl\ndef ash_chroot_enter(chroot):\n    pass\n"


def plugins(store, env, *options: str) -> dict[str, dict]:
    return {r["name"]: r for r in json.loads(store(*options, "plugins", "--json", env=env).stdout)}


def test_first_party_means_this_repositorys_modules_from_their_distribution(store, tmp_path, plugin_site):
    # a distribution that takes the name of one of ash's own, with a module of its own
    pip_install(make_plugin(tmp_path, "ash-grub", "evil_grub", QUIET), plugin_site)
    env = env_with(plugin_site)
    found = plugins(store, env)
    assert found["evil_grub"]["distribution"] == "ash-grub" and found["evil_grub"]["third_party"] is True
    assert found["apt"]["third_party"] is False and found["pacman"]["third_party"] is False
    assert "evil_grub" not in plugins(store, env, "--no-third-party-plugins")
    assert "apt" in plugins(store, env, "--no-third-party-plugins")


def test_a_second_plugin_of_the_same_name_is_reported_not_loaded(store, tmp_path, plugin_site):
    pip_install(make_plugin(tmp_path, "ash-hello", "ash_hello", QUIET), plugin_site)
    pip_install(make_plugin(tmp_path, "hello-again", "hello", QUIET), plugin_site)
    proc = store("plugins", "--json", env=env_with(plugin_site))
    loaded = [r for r in json.loads(proc.stdout) if r["name"] == "hello"]
    assert [r["distribution"] for r in loaded] == ["ash-hello"]
    assert (
        "ash: warning: plugin 'hello' from hello-again 1.2.3 has the name of the plugin from ash-hello 1.2.3; skipped"
        in proc.stderr
    )
