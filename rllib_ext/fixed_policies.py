"""Fixed-strategy RLModules: players that act by a rule and are never trained."""

import numpy as np
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule


class RandomPolicy(RLModule):
    """Uniformly random actions over a Discrete action space (the Coin Game's random-play level)."""

    def _forward(self, batch, **kwargs):
        n = len(batch[Columns.OBS])
        return {Columns.ACTIONS: np.random.randint(self.action_space.n, size=n)}

    def _forward_train(self, batch, **kwargs):
        raise NotImplementedError("RandomPolicy is a fixed strategy; keep it out of policies_to_train")
