"""Benchmarks. They print ratios measured side by side in one run; they are not tests."""
