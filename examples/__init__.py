"""Examples, importable from the repository root: `from examples.resilience import with_backoff`."""
