"""M-FOS, model-free opponent shaping: ``MFOSConfig`` / ``MFOS`` (mfos.py), the analytic IPD meta-game (pure
torch, analytic_ipd.py), the meta-game env and runner (meta_game_env_runner.py), presets (presets.py) and the
actor-critic (torch/)."""

from rllib_ext.algorithms.mfos.mfos import MFOS, MFOSConfig

__all__ = ["MFOS", "MFOSConfig"]
