"""What every offline goal-conditioned method shares: config and algorithm base (``gcrl.py``), the dataset,
goal sampler, goal-conditioned env, evaluation, presets, networks, losses, and the torch module and learner bases."""
