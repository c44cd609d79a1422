"""ash's package-manager plugin for Arch Linux and its derivatives: pacman (see README.md)."""
