"""Reciprocators and SAW on Ray RLlib (new API stack, PyTorch).

Importing the package registers the games with RLlib by name (``"ipd"``, ``"coin_game"``) and every
algorithm with Tune by name (``"Reciprocator"``, ``"SAW"``, ``"GCIVL"``, ``"GCBC"``; RLlib has ``"PPO"``).
"""

import envs  # noqa: F401  (registers the games)
from rllib_ext.algorithms.registry import register_trainables

register_trainables()
