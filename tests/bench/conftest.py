"""Tests of the benchmark harness (bench/): its in-process parts, Ferry alone, on tiny counts."""
