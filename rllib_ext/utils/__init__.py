"""Helpers shared across the package: config settings by key (``--set``), the Ray runtime, result key names,
torch compilation, CPU allocator settings, plotting."""
