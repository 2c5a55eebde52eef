"""The offline goal-conditioned family on OGBench datasets: one file per method, the shared base in ``common/``.

``SAWConfig`` / ``SAW`` (saw.py), ``GCIVLConfig`` / ``GCIVL`` (gcivl.py), ``GCBCConfig`` / ``GCBC`` (gcbc.py);
``import rllib_ext`` registers each algorithm with Tune by its class name.
"""

from rllib_ext.algorithms.gcrl.gcbc import GCBC, GCBCConfig
from rllib_ext.algorithms.gcrl.gcivl import GCIVL, GCIVLConfig
from rllib_ext.algorithms.gcrl.saw import SAW, SAWConfig

__all__ = ["SAW", "SAWConfig", "GCIVL", "GCIVLConfig", "GCBC", "GCBCConfig"]
