"""Making a snapshot boot: deployments, the switch of the boot menu, deploy and rollback."""
