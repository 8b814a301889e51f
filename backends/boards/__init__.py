"""Boards: the inventory (devices.toml), transports (local, SSH), probing, deploys, benchmarks."""
