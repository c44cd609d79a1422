"""The Ansible collection (``ansible/ansible_collections/ash/ash``) driving a machine for real:
ansible-core's ``ansible-playbook -c local`` runs the ``ash.ash.ash`` and ``ash.ash.ash_facts``
modules, which run the real ``ash`` on a store whose snapshots pacman manages from a local repository,
and deploy with ash-grub. Run twice, a playbook changes nothing the second time; in check mode it
changes nothing at all; a failing package fails the task with ash's reason and changes nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ash_testing.deploys import deploy_state
from ash_testing.require import require
from ash_testing.snapshots import digest

COLLECTIONS = Path(__file__).resolve().parents[3] / "ansible"
PLAYBOOK = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: a web snapshot with appb, deployed
      ash.ash.ash:
        name: web
        packages: {packages}
        state: deployed
        ash_path: "{{{{ ash }}}}"
        sysroot: "{{{{ sysroot }}}}"
    - name: the facts
      ash.ash.ash_facts:
        ash_path: "{{{{ ash }}}}"
        sysroot: "{{{{ sysroot }}}}"
    - name: kept for the test
      ansible.builtin.copy:
        content: "{{{{ ansible_facts.ash | to_json }}}}"
        dest: "{{{{ facts }}}}"
"""


@pytest.fixture
def playbook(deployed, tmp_path):
    """``playbook(packages, *options)``: run the play against the deployed store; (recap, output)."""
    playbook_bin = Path(sys.executable).with_name("ansible-playbook")
    require(playbook_bin.exists(), "needs ansible-core (pip install 'ansible-core>=2.19,<2.20')")
    ash = Path(sys.executable).with_name("ash")
    require(ash.exists(), "needs the ash entry point next to the test's python")

    def play(packages: list[str], *options: str) -> tuple[dict[str, int], str]:
        path = tmp_path / "play.yml"
        path.write_text(PLAYBOOK.format(packages=json.dumps(packages)))
        argv = [playbook_bin, "-i", "localhost,", "-c", "local", path, *options]
        for key, value in {
            "ansible_python_interpreter": sys.executable,
            "ash": ash,
            "sysroot": deployed.ash.sysroot,
            "facts": tmp_path / "facts.json",
        }.items():
            argv += ["-e", f"{key}={value}"]
        env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": os.fspath(COLLECTIONS), "ANSIBLE_NOCOLOR": "1"}
        env["ANSIBLE_HOME"] = os.fspath(tmp_path / "ansible-home")
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
        recap = re.search(r"^localhost\s+:\s+(.*)$", proc.stdout, re.M)
        assert recap, proc.stdout + proc.stderr
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", recap.group(1))}, proc.stdout

    return play


def add_app(repo) -> None:
    repo.add("appb", "1.0-1", {"usr/bin/appb": "#!/bin/sh\necho appb\n"}, depends=("liba>=1.0",))


def walk(nodes: list[dict]):
    for n in nodes:
        yield n
        yield from walk(n["children"])


def web(deployed) -> list[int]:
    return [n["id"] for n in walk(deployed.ash.tree_json()["tree"]) if n["description"] == "web"]


def test_a_playbook_makes_a_tree_deploys_and_then_changes_nothing(deployed, playbook, tmp_path):
    arch = deployed
    add_app(arch.repo)
    store_before = {sid: digest(arch.root(sid)) for sid in (0, 1)}
    state_before = deploy_state(arch.ash)

    recap, out = playbook(["appb"], "--check", "--diff")
    assert recap["failed"] == 0 and recap["changed"] == 2, out  # the snapshot, and the facts file
    assert not (tmp_path / "facts.json").exists()
    assert '+  "appb"' in out.split("TASK [the facts]")[0], out  # the diff: appb explicit after
    assert arch.ash.ids() == {0, 1} and deploy_state(arch.ash) == state_before, "check mode changed the machine"
    assert {sid: digest(arch.root(sid)) for sid in (0, 1)} == store_before

    recap, out = playbook(["appb"])
    assert recap["failed"] == 0 and recap["changed"] == 2, out  # the snapshot, and the facts file
    (sid,) = web(arch)
    assert arch.packages(sid) == {"appb": ("1.0-1", True), "liba": ("1.0-1", False)}
    assert deploy_state(arch.ash)["default"]["snapshot"] == sid
    facts = json.loads((tmp_path / "facts.json").read_text())
    assert facts["deployed"] == sid and facts["last_update"] is None
    assert [n["id"] for n in walk(facts["tree"]) if n["description"] == "web"] == [sid]

    recap, out = playbook(["appb"])
    assert recap["failed"] == 0 and recap["changed"] == 0, out
    assert web(arch) == [sid]


def test_a_failing_package_fails_the_task_with_ashs_reason(deployed, playbook):
    arch = deployed
    add_app(arch.repo)
    playbook(["appb"])
    (sid,) = web(arch)
    before, state = digest(arch.root(sid)), deploy_state(arch.ash)
    recap, out = playbook(["appb", "nosuchpkg"])
    assert recap["failed"] == 1, out
    assert "target not found: nosuchpkg" in out, out
    assert digest(arch.root(sid)) == before and deploy_state(arch.ash) == state


def test_the_collection_builds(tmp_path):
    galaxy = Path(sys.executable).with_name("ansible-galaxy")
    require(galaxy.exists(), "needs ansible-core")
    source = COLLECTIONS / "ansible_collections/ash/ash"
    subprocess.run([galaxy, "collection", "build", source, "--output-path", tmp_path], check=True, capture_output=True)
    (built,) = tmp_path.glob("ash-ash-*.tar.gz")
    listing = subprocess.run(["tar", "-tzf", built], check=True, capture_output=True, text=True).stdout.split()
    assert {"plugins/modules/ash.py", "plugins/modules/ash_facts.py", "meta/runtime.yml"} <= set(listing)


#: A stand-in for pip's bootstrap script, which ansible-test downloads from ci-files.testing.ansible.com
#: (not reachable here): ensurepip, then pip installs what ansible-test asks for from PyPI.
GET_PIP = """\
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
args = [a for a in sys.argv[1:] if a not in ("--disable-pip-version-check", "--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", "--cert", "/etc/ssl/certs/ca-certificates.crt", *args])
"""


def test_the_modules_pass_ansible_test_sanity():
    """ansible-test's validate-modules (documentation, argument spec and return values agree)."""
    ansible_test = Path(sys.executable).with_name("ansible-test")
    require(ansible_test.exists(), "needs ansible-core")
    stand_in = Path.home() / ".ansible/test/cache/get_pip_24_2.py"
    if not stand_in.exists():
        stand_in.parent.mkdir(parents=True, exist_ok=True)
        stand_in.write_text(GET_PIP)
    source = COLLECTIONS / "ansible_collections/ash/ash"
    modules = ["plugins/modules/ash.py", "plugins/modules/ash_facts.py"]
    python = "{}.{}".format(*sys.version_info)
    argv = [ansible_test, "sanity", "--test", "validate-modules", "--python", python, *modules]
    proc = subprocess.run(argv, cwd=source, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
