"""Benchmarks: `python bench/run_all.py` runs them all (see bench/run_all.py)."""
