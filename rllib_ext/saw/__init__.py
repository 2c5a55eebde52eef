"""SAW and its GCIVL / GCBC baselines as RLlib algorithms (registered with Tune by name)."""

from ray.tune.registry import register_trainable

from rllib_ext.saw.saw import GCBC, GCIVL, SAW, GCBCConfig, GCIVLConfig, SAWConfig

for _algo in (SAW, GCIVL, GCBC):
    register_trainable(_algo.__name__, _algo)

__all__ = ["SAW", "SAWConfig", "GCIVL", "GCIVLConfig", "GCBC", "GCBCConfig"]
