"""Benchmarks (`make bench`): our stack against baselines measured in the same run."""
