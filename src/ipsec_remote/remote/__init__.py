"""Reaching hosts: targets and credentials, pypsrp sessions, the fixed PowerShell scripts, and the
parsers of what those scripts report."""
