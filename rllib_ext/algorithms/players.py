"""The players of a game: agent types, one RLModule spec per seat, and the policy mapping.

Seat ``i`` is agent ``player_i`` and trains (or plays) its own module ``player_i``. A seat is a learner
(``LEARNER_TYPES``: its algorithm's policy) or a fixed strategy (``rllib_ext.core.fixed_strategies``).
"""

from typing import Dict, List, Optional, Sequence

from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rllib_ext.core.fixed_strategies import FIXED_STRATEGIES
from rllib_ext.core.small_categorical import SmallCategoricalCatalog

LEARNER_TYPES = ("reciprocator", "naive")
"""Agent types that learn: a Reciprocator, or a naive PPO learner."""


def policy_mapping_fn(agent_id, episode=None, **kwargs):
    """One policy per player: the module id is the agent id."""
    return agent_id


def agent_ids(num_players: int) -> List[str]:
    return [f"player_{i}" for i in range(num_players)]


def mlp_learner_spec(hiddens: Sequence[int], activation: Optional[str] = None) -> RLModuleSpec:
    """RLlib's default PPO module with separate actor and critic MLPs of ``hiddens`` and ``SmallCategorical``
    actions (the official IPD policy's layout)."""
    model_config = {"fcnet_hiddens": list(hiddens), "vf_share_layers": False}
    if activation is not None:
        model_config["fcnet_activation"] = activation
    return RLModuleSpec(catalog_class=SmallCategoricalCatalog, model_config=model_config)


def player_module_specs(agent_types: Sequence[str], learner_spec: RLModuleSpec) -> Dict[str, RLModuleSpec]:
    """``{player_i: spec}``: a fixed strategy's module (told its seat) or ``learner_spec``; unknown types are left
    out (the config's ``validate`` names them)."""
    return {
        aid: RLModuleSpec(module_class=FIXED_STRATEGIES[kind], model_config={"seat": seat})
        if kind in FIXED_STRATEGIES else learner_spec
        for seat, (aid, kind) in enumerate(zip(agent_ids(len(agent_types)), agent_types))
        if kind in FIXED_STRATEGIES or kind in LEARNER_TYPES
    }
