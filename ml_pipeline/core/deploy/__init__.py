"""Registering, exporting and rolling back champions, and their model cards."""
