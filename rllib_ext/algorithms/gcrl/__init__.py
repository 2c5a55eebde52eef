"""The offline goal-conditioned family on OGBench datasets: one file per method, the shared base in ``common/``.

``SAWConfig`` / ``SAW`` (saw.py), ``HIQLConfig`` / ``HIQL`` (hiql.py), ``GCIVLConfig`` / ``GCIVL`` (gcivl.py),
``GCIQLConfig`` / ``GCIQL`` (gciql.py), ``QRLConfig`` / ``QRL`` (qrl.py), ``CRLConfig`` / ``CRL`` (crl.py),
``GCBCConfig`` / ``GCBC`` (gcbc.py); ``import rllib_ext`` registers each algorithm with Tune by its class name.
"""

from rllib_ext.algorithms.gcrl.crl import CRL, CRLConfig
from rllib_ext.algorithms.gcrl.gcbc import GCBC, GCBCConfig
from rllib_ext.algorithms.gcrl.gciql import GCIQL, GCIQLConfig
from rllib_ext.algorithms.gcrl.gcivl import GCIVL, GCIVLConfig
from rllib_ext.algorithms.gcrl.hiql import HIQL, HIQLConfig
from rllib_ext.algorithms.gcrl.qrl import QRL, QRLConfig
from rllib_ext.algorithms.gcrl.saw import SAW, SAWConfig

__all__ = ["SAW", "SAWConfig", "HIQL", "HIQLConfig", "GCIVL", "GCIVLConfig", "GCIQL", "GCIQLConfig",
           "QRL", "QRLConfig", "CRL", "CRLConfig", "GCBC", "GCBCConfig"]
