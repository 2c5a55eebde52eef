"""The SAW RLModule's interface (framework independent; the networks are in ``torch/``).

Inputs. For acting, ``Columns.OBS`` is the goal-conditioned observation ``[obs; goal]``
joined on the last axis (what ``OGBenchGoalEnv`` emits), so the module's observation space
is the dataset's observation space with the last axis doubled. For training, the batch from
``GoalSampler`` carries plain observations and one column per goal (``goal_sampler.py``).

Outputs. ``_forward`` returns ``ACTION_DIST_INPUTS = [μ_θ(s, g); log σ = 0]`` for RLlib's
diagonal Gaussian (fixed unit std; deterministic evaluation takes the mean).
``_forward_train`` returns the network outputs the losses need (keys below); quantities
used only as weights (advantages, target values, the bootstrapping target mean) are
computed without gradient, with the online value's current parameters for advantages.

Variants (``model_config["variant"]``): ``saw`` builds all networks; ``gcivl`` drops the
subpolicy (and, with OGBench's settings, the goal representations); ``gcbc`` keeps only the actor.
"""

from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, TargetNetworkAPI
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.utils.annotations import override

VALUES = "values"
"""[2, B] online heads V_j(s, g_v), with gradient."""
TARGET_VALUES = "target_values"
"""[2, B] target heads V̄_j(s, g_v)."""
TARGET_NEXT_VALUES = "target_next_values"
"""[2, B] target heads V̄_j(s', g_v)."""
ACTOR_MEANS = "actor_means"
"""[B, A] μ_θ(s, g_π), with gradient."""
ACTOR_ADVANTAGES = "actor_advantages"
"""[B] A = V(s', g_π) − V(s, g_π)."""
SUBPOLICY_MEANS = "subpolicy_means"
"""[B, A] μ_sub(s, w_lo), with gradient."""
SUBPOLICY_ADVANTAGES = "subpolicy_advantages"
"""[B] A_lo = V(s', w_lo) − V(s, w_lo)."""
WAYPOINT_ADVANTAGES = "waypoint_advantages"
"""[B] A_w = V(w, g_π) − V(s, g_π)."""
WAYPOINT_SUBPOLICY_MEANS = "waypoint_subpolicy_means"
"""[B, A] μ_sub(s, w): the bootstrapping target."""

VARIANT_NAMES = ("saw", "gcivl", "gcbc")


class DefaultSAWRLModule(RLModule, InferenceOnlyAPI, TargetNetworkAPI):
    """Flat goal-conditioned actor, plus (for training) value ensemble, EMA target heads and subpolicy.

    The target network covers only the two value heads: the value's goal representation is
    shared by online and target values (as in the official code).
    """

    @property
    def variant(self) -> str:
        return self.model_config["variant"]

    @override(InferenceOnlyAPI)
    def get_non_inference_attributes(self):
        return ["value", "target_value_heads", "subpolicy"]
