"""force-sync brings the parent's exact versions into a child that never refreshed its package
indexes, without fetching any index; when the archive no longer has them it says what to run."""

from __future__ import annotations

import json


def versions(debian, sid: int) -> dict[str, str]:
    return {p["name"]: p["version"] for p in json.loads(debian("list", str(sid), "--json").stdout)}


def test_force_sync_into_a_child_without_indexes_takes_the_parents_versions(debian, repo):
    debian("clone", "0")  # 1
    debian("install", "1", "fooapp")  # 1 fetches the indexes: fooapp 1.0
    debian("ubranch", "1", "0")  # 2: a copy of the base, which never fetched an index, under 1
    repo.publish_version_2()  # the archive moves on; 1 does not see it
    repo.server.requests.clear()
    out = debian("force-sync", "1")
    assert "force-sync: done in 2" in out.stdout
    assert versions(debian, 2)["fooapp"] == "1.0" and versions(debian, 2)["libfoo"] == "1.0"
    assert not [r for r in repo.server.requests if r.path.endswith(("Release", "Packages"))], "no index was fetched"


def test_force_sync_says_what_to_run_when_the_parents_version_is_gone(debian, repo):
    debian("clone", "0")
    debian("install", "1", "tinypkg")
    debian("ubranch", "1", "0")
    (repo.path / "tinypkg_1.0_all.deb").unlink()
    repo.add("tinypkg", "1.1")
    repo.index()
    out = debian("force-sync", "1", check=False)
    assert out.returncode == 1
    assert "force-sync: FAILED in 2: " in out.stderr and "tinypkg_1.0_all.deb  404  File not found" in out.stderr, (
        out.stderr
    )
    assert (
        "hint: the parent's version cannot be had from the archive (gone, or unreachable): 'ash sync' the tree"
        in out.stderr
    )
    assert "tinypkg" not in versions(debian, 2)
