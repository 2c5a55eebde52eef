"""Fixed-strategy RLModules: players that act by a rule and are never trained.

Keep them out of ``policies_to_train``. The IPD strategies read the game's observation (the
previous joint action ``[a0, a1]``, ``[-1, 0]`` before the first move); ``tit_for_tat`` needs
its seat, given as ``model_config={"seat": i}``.
"""

import numpy as np
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule

from envs.games.ipd import COOPERATE, DEFECT


class FixedStrategy(RLModule):
    """Base class: ``act(obs) -> actions``; training it is an error."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _forward(self, batch, **kwargs):
        return {Columns.ACTIONS: self.act(np.asarray(batch[Columns.OBS]))}

    def _forward_train(self, batch, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} is a fixed strategy; keep it out of policies_to_train")


class RandomStrategy(FixedStrategy):
    """Uniformly random actions over a Discrete action space."""

    def act(self, obs):
        return np.random.randint(self.action_space.n, size=len(obs))


class AlwaysDefect(FixedStrategy):
    """IPD: always defects."""

    def act(self, obs):
        return np.full(len(obs), DEFECT)


class AlwaysCooperate(FixedStrategy):
    """IPD: always cooperates."""

    def act(self, obs):
        return np.full(len(obs), COOPERATE)


class TitForTat(FixedStrategy):
    """IPD: cooperates first, then repeats the opponent's previous move."""

    def act(self, obs):
        opponent = 1 - self.model_config.get("seat", 0)
        return (obs[:, opponent] == DEFECT).astype(np.int64)


FIXED_STRATEGIES = {
    "random": RandomStrategy,
    "always_defect": AlwaysDefect,
    "always_cooperate": AlwaysCooperate,
    "tit_for_tat": TitForTat,
}
"""Agent type name -> module class."""
IPD_STRATEGIES = ("always_defect", "always_cooperate", "tit_for_tat")
"""Fixed strategies that only make sense in the Prisoner's Dilemma."""
