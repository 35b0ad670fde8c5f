"""The kernel's database tooling: least-privilege roles, snapshots."""
