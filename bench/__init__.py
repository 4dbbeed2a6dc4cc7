"""rolecall's benchmarks: measured side by side with a reference, never asserted in tests.

Each module exposes `run(config) -> list[Result]`; `bench.suite` runs them all, prints a
table and writes `bench/results.json`.
"""
