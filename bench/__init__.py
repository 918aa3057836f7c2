"""Benchmarks that print JSON: `python -m bench NAME [ARGS]`."""
