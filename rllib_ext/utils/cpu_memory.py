"""Keep freed tensor memory inside a CPU learner's process (glibc's allocator settings).

glibc serves large allocations (above a threshold it raises as they are freed) with fresh
``mmap`` pages and hands the top of its heap back to the OS once more than twice that
threshold is free. A learner allocates and frees the same few-MB activations every step, so
the pages keep going back and are faulted in again (thousands of page faults per eager SAW step;
figures in ``docs/performance.md``).
"""

import ctypes
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20
"""Allocations above this still get their own mapping (glibc's largest allowed value on 64-bit)."""
TRIM_THRESHOLD = 2**30
"""Free heap kept before any is returned to the OS."""


def keep_freed_memory() -> bool:
    """Fix glibc's mmap and trim thresholds for this process; False where there is no glibc.

    Fixing them also stops glibc's own adjustment of the mmap threshold. The process keeps up
    to ``TRIM_THRESHOLD`` of freed heap instead of returning it: its resident memory stays at
    its peak.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
