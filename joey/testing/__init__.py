"""Tiny models built on the spot, for the demo, the tests and the benchmarks (no downloads)."""
