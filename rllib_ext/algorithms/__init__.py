"""The algorithms: the registry (``registry.py``), the players of the games, naive PPO learners,
Reciprocators (``reciprocator/``) and the offline goal-conditioned family (``gcrl/``)."""
