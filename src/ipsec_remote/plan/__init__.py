"""The pure diff of desired against observed objects, and its renderings (text, JSON, PowerShell)."""
