"""ash-apt: Debian and Ubuntu snapshots managed with apt and dpkg (hooks in :mod:`ash_apt.plugin`)."""
