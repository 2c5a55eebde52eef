"""Reciprocators and SAW on Ray RLlib (new API stack, PyTorch).

Importing the package registers the games (``envs``) with RLlib by name.
"""

import envs  # noqa: F401  (registers "ipd" and "coin_game" with RLlib)
