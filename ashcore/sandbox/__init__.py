"""Running commands inside a root: :class:`~ashcore.sandbox.chroot.Chroot` runs ``script.py`` in a
child process it forks, which builds private namespaces and chroots the command there."""
