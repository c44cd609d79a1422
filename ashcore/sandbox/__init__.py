"""Running commands inside a root: :class:`~ashcore.sandbox.chroot.Chroot` starts ``script.py`` as
its own process, which builds private namespaces and chroots the command there."""
