"""Benchmarks: harnesses that print figures (never timed assertions)."""
