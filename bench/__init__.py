"""Benchmark harness: `make bench` (see docs/benchmarks.md)."""
