"""Importers: inventories from other tools as an ipsec-remote inventory TOML."""
