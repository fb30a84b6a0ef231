"""The journal: SQLite beside the inventory (DESIGN §6)."""
