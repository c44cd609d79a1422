"""Files and filesystems: paths inside a root as it sees them, crash-safe writes and copies, btrfs
subvolumes, the fstab lines ash owns, os-release. Nothing here knows about snapshots or plugins."""
