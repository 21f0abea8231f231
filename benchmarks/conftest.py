"""Benchmarks run from the repository root (``pytest benchmarks/...`` or ``python -m
benchmarks.<name>``) and reuse the tests' input builders as ``tests.inputs``."""
