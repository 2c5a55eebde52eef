"""Result keys the package's algorithms log and the run folders read (like ``ray.rllib.utils.metrics``)."""

GAME_METRICS = "game"
"""Env-runner results key: ``{agent_id: {metric: value}}`` of the batched games (``envs.games``)."""
RECIPROCATOR_METRICS = ("reciprocal_reward", "reciprocal_reward_per_step", "reciprocal_reward_weight", "balance",
                        "influence_in", "influence_out")
"""Logged per Reciprocator (under its module id): the weighted reciprocal reward summed over an episode and
averaged over the games (the official Coin Game logs), its mean per step (the official IPD logs), the weight,
mean end-of-episode influence balance, mean influence received and exerted per step."""
INFLUENCE_ESTIMATOR = "influence_estimator"
"""Learner-results key under which the influence estimator's latest fit is logged."""
NUM_GRAD_STEPS_LIFETIME = "num_grad_steps_lifetime"
"""Offline algorithms: gradient steps so far."""
GRAD_STEPS_PER_S = "grad_steps_per_s"
"""Offline algorithms: gradient steps per second in the last iteration."""
