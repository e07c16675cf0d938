"""Micro-benchmarks, each runnable as ``python -m bench.NAME``."""
