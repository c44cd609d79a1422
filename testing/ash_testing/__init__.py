"""Testing ash and its plugins for real: a pytest plugin (loaded through the ``pytest11`` entry
point) and the helpers its fixtures are made of. None of it is ever copied onto a system.

* :mod:`~ash_testing.fixtures`: real btrfs on a loop device, fresh sysroots and stores, the CLI;
* :mod:`~ash_testing.markers`: ``root`` and ``slow``, and ``root`` put on what needs it by its fixtures;
* :mod:`~ash_testing.require`: skip a test that lacks root or a tool, but fail it when ``CI`` is set;
* :mod:`~ash_testing.cli`: :class:`~ash_testing.cli.Ash`, the real ``ash`` in a subprocess, and its
  failures in one ``ash: error:`` line;
* :mod:`~ash_testing.snapshots`: digests and fingerprints that prove a snapshot unchanged;
* :mod:`~ash_testing.roots`: tiny busybox roots, host programs copied into roots, cached roots;
* :mod:`~ash_testing.http`: package repositories served on 127.0.0.1, recording who asked;
* :mod:`~ash_testing.mounts`: the mounts a test could leak;
* :mod:`~ash_testing.plugins`: throwaway plugin distributions, really built and installed;
* :mod:`~ash_testing.qemu`: booting disk images in QEMU and the guest's report;
* :mod:`~ash_testing.grub`: roots with kernels, deploy contexts, and two readings of a GRUB menu;
* :mod:`~ash_testing.deploys`: what the menu boots, the deploy state, a booted deployment's view;
* :mod:`~ash_testing.campaign`: the reliability campaign's seeded cases and the table it prints;
* :mod:`~ash_testing.images`: Debian disk images for the boot tests, and a boot checked against the
  guest's report.
"""
