"""Environments: the social-dilemma games (``envs.games``) and OGBench's datasets (``envs.ogbench``).

Importing ``envs`` registers every game with RLlib by name (``"ipd"``, ``"coin_game"``).
"""

import envs.games  # noqa: F401  (registers the games with RLlib)
