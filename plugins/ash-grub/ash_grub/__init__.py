"""ash-grub: the GRUB bootloader for ash (menu from the snapshot tree; install for BIOS and UEFI)."""
