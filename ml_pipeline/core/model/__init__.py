"""Splitting, the search, evaluation, the challenger, the promotion gate, the refit,
the smoke test."""
