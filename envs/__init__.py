"""Environments: the social-dilemma games (``envs.games``) and OGBench's datasets (``envs.ogbench``).

Importing ``envs`` registers every game with RLlib by name (``"ipd"``, ``"coin_game"``).
"""

import envs.ogbench  # noqa: F401  (first: picks MuJoCo's headless renderer before RLlib's imports load mujoco)
import envs.games  # noqa: F401  (registers the games with RLlib)
