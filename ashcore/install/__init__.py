"""Installing a new ash system: disks and images, the installer, and copying ash itself into it."""
