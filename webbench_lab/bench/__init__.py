"""Benchmarks: suites as data, the runner, the load tools' parsers, results and reports."""
