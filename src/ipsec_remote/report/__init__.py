"""Rendering operation results for people and machines."""
