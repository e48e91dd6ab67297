"""Benchmarks of the template (run from the repository root: python -m bench.NAME)."""
