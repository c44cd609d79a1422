"""ash-profiles: desktops and roles (GNOME, KDE Plasma, Xfce, sway, i3, a server) for every distribution
ash manages, installed into a snapshot in one transaction. See the README for the profile format."""
