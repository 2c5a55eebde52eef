"""Helpers shared across the package: result key names, torch compilation, CPU allocator settings, plotting."""
