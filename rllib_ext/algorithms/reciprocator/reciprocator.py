"""Reciprocators (Zhou, Hong, Kao 2024) as an RLlib algorithm: PPO plus reciprocal reward shaping.

``ReciprocatorConfig`` is a ``PPOConfig``: every PPO setting works. It adds the players'
agent types (``reciprocator``, ``naive`` or a fixed strategy, one per seat), the reciprocal
reward (type, weight schedule, normalisation), the influence estimator and its refit schedule,
and the warm-up during which policies stay frozen while the estimator learns. ``Reciprocator``
is PPO whose first ``warmup_episodes`` iterations only feed the estimator, and whose
checkpoints carry the estimator.

    config = (ReciprocatorConfig()
              .environment("ipd")
              .training(agent_types=["reciprocator", "naive"]))
    algo = config.build_algo()
"""

import copy
import inspect
from typing import Dict, List, Optional, Sequence, Tuple, Union

from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.ppo import PPO, PPOConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS

from envs.games import game_kwargs, get_game
from rllib_ext.algorithms import players
from rllib_ext.algorithms.players import LEARNER_TYPES, policy_mapping_fn
from rllib_ext.algorithms.reciprocator.influence import (
    ESTIMATORS,
    CoinTransitionInfluence,
    FitSchedule,
    MatrixInfluence,
    RewardFutureInfluence,
)
from rllib_ext.algorithms.reciprocator.reciprocal_reward import IPD_ONE_STEP, RECIPROCAL_REWARD_TYPES
from rllib_ext.algorithms.reciprocator.torch.conv_gru_torch_rl_module import ConvGRUTorchRLModule
from rllib_ext.core.fixed_strategies import FIXED_STRATEGIES, IPD_STRATEGIES
from rllib_ext.env.batched_game_env_runner import BatchedGameEnvRunner

AGENT_TYPES = LEARNER_TYPES + tuple(FIXED_STRATEGIES)
DEFAULT_REWARD_TYPE = {"ipd": IPD_ONE_STEP, "coin_game": "petty_payoff"}


class ReciprocatorConfig(PPOConfig):
    """PPOConfig plus the Reciprocator's settings (see ``training()``)."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or Reciprocator)
        # fmt: off
        self.agent_types: List[str] = ["reciprocator", "naive"]  # one type per seat (see training())
        self.reciprocal_reward_type: Optional[str] = None  # None: the paper's choice for the game
        self.reciprocal_reward_weight: Union[float, Sequence[float]] = 1.0  # or (start, end, rate)
        self.normalize_reciprocal_reward = False  # standardise the reciprocal reward over the batch
        self.normalize_returns = True  # the official targets: batch-standardised Monte-Carlo returns
        self.center_returns = True  # subtract their mean too (the official Coin Game code)
        self.warmup_episodes = 0  # first iterations in which only the estimator learns
        self.estimator_fit_initialization_episodes = 2  # refit after each of the first episodes...
        self.estimator_fit_period = 2  # ...then every this many
        self.influence_estimator = "auto"  # the official choice per game (see training())
        self.estimator_config: Dict = {}  # keyword arguments of the learned estimator
        self.policy_model = "mlp"  # separate actor and critic MLPs; conv_gru; default (RLlib's)
        self.policy_hiddens: List[int] = [2, 2]  # the mlp policy's hidden sizes (official IPD)
        self.policy_activation = "tanh"  # tanh or relu (the official IPD networks)
        self.bulk_learner_batch = True  # PPO's train batch built in bulk from whole episodes
        # The official PPO: lambda 1 (Monte-Carlo), no KL term, no clipping of the value loss or gradients.
        self.lambda_ = 1.0
        self.use_kl_loss = False
        self.vf_clip_param = float("inf")
        self.grad_clip = None
        # fmt: on
        self.env_runner_cls = BatchedGameEnvRunner
        self._sync_players()

    def training(
        self,
        *,
        agent_types: Optional[Sequence[str]] = NotProvided,
        reciprocal_reward_type: Optional[str] = NotProvided,
        reciprocal_reward_weight: Union[float, Sequence[float]] = NotProvided,
        normalize_reciprocal_reward: bool = NotProvided,
        normalize_returns: bool = NotProvided,
        center_returns: bool = NotProvided,
        warmup_episodes: int = NotProvided,
        estimator_fit_initialization_episodes: int = NotProvided,
        estimator_fit_period: int = NotProvided,
        influence_estimator: str = NotProvided,
        estimator_config: Dict = NotProvided,
        policy_model: str = NotProvided,
        policy_hiddens: List[int] = NotProvided,
        policy_activation: str = NotProvided,
        bulk_learner_batch: bool = NotProvided,
        **kwargs,
    ) -> "ReciprocatorConfig":
        """Reciprocator settings on top of PPO's.

        Args:
            agent_types: one type per player, in seat order: ``reciprocator``, ``naive`` (PPO with
                the official targets), ``random``, or for IPD ``always_defect``,
                ``always_cooperate``, ``tit_for_tat``.
            reciprocal_reward_type: one of ``RECIPROCAL_REWARD_TYPES`` or ``"one_step_grudge"``;
                None = the paper's choice for the game (one-step grudge for IPD, ``petty_payoff``).
            reciprocal_reward_weight: a constant or ``(start, end, rate)`` (grows by ``rate`` per update).
            normalize_reciprocal_reward: standardise the reciprocal reward over the batch.
            normalize_returns: the official targets (batch-standardised Monte-Carlo returns,
                advantage = target - V) instead of RLlib's GAE.
            center_returns: with ``normalize_returns``, subtract the batch mean before dividing by
                the std (the official Coin Game code). The official IPD code only divides by the std;
                ``False`` reproduces that (``docs/results.md``: it made no difference).
            warmup_episodes: first iterations in which only the estimator learns.
            estimator_fit_initialization_episodes, estimator_fit_period: refit the learned estimator
                after each of the first episodes, then every ``period`` episodes.
            influence_estimator: ``auto`` (the official choice: the closed form for IPD, the
                transition-model estimator for 2-player 3x3 Coin Games, the reward + future-return one
                otherwise), ``matrix``, ``transition`` or ``reward_future``.
            estimator_config: keyword arguments of the learned estimator (hidden, lr, epochs,
                minibatch_size, num_minibatches, replay_batches, device).
            policy_model: ``mlp`` (separate actor and critic MLPs of ``policy_hiddens``, the official
                IPD policy), ``conv_gru`` (the official Coin Game policy: conv encoder + GRU, separate
                critic) or ``default`` (RLlib's default PPO model).
            policy_hiddens: hidden sizes of the ``mlp`` policy.
            policy_activation: its activation, ``tanh`` (RLlib's default) or ``relu`` (the official
                IPD networks; ``docs/results.md`` on why the default is tanh).
            bulk_learner_batch: build PPO's train batch from whole, equal-length episodes with array
                operations (``connectors.learner.EpisodesToBatchInBulk``: the same batch as RLlib's per-episode
                learner pieces, which run instead for other episodes); needs ``normalize_returns``.
                False keeps RLlib's stock pieces (for comparisons).
        """
        super().training(**kwargs)
        for name, value in dict(
            agent_types=agent_types, reciprocal_reward_type=reciprocal_reward_type,
            reciprocal_reward_weight=reciprocal_reward_weight,
            normalize_reciprocal_reward=normalize_reciprocal_reward, normalize_returns=normalize_returns,
            center_returns=center_returns, warmup_episodes=warmup_episodes,
            estimator_fit_initialization_episodes=estimator_fit_initialization_episodes,
            estimator_fit_period=estimator_fit_period, estimator_config=estimator_config,
            influence_estimator=influence_estimator,
            policy_model=policy_model, policy_hiddens=policy_hiddens, policy_activation=policy_activation,
            bulk_learner_batch=bulk_learner_batch,
        ).items():
            if value is not NotProvided:
                setattr(self, name, list(value) if name == "agent_types" else value)
        self._sync_players()
        return self

    def environment(self, env=NotProvided, **kwargs) -> "ReciprocatorConfig":
        super().environment(env, **kwargs)
        self._sync_players()
        return self

    # -- derived settings -------------------------------------------------------------------

    def agent_ids(self) -> List[str]:
        return players.agent_ids(len(self.agent_types))

    def reciprocator_ids(self) -> List[str]:
        return [aid for aid, kind in zip(self.agent_ids(), self.agent_types) if kind == "reciprocator"]

    def resolved_reciprocal_reward_type(self) -> str:
        return self.reciprocal_reward_type or DEFAULT_REWARD_TYPE.get(self.env, "petty_payoff")

    def reciprocal_reward_schedule(self) -> Tuple[float, float, float]:
        w = self.reciprocal_reward_weight
        return (float(w), float(w), 0.0) if isinstance(w, (int, float)) else tuple(float(x) for x in w)

    def fit_schedule(self) -> FitSchedule:
        return FitSchedule(self.estimator_fit_initialization_episodes, self.estimator_fit_period)

    def resolved_influence_estimator(self) -> str:
        if self.influence_estimator != "auto":
            return self.influence_estimator
        if self.env == "ipd":
            return "matrix"
        small_two_player = self.env_config.get("num_players", 2) == 2 and self.env_config.get("grid_size", 3) == 3
        return "transition" if small_two_player else "reward_future"

    def build_estimator(self, device: str = "cpu"):
        """The influence estimator: IPD closed form, or one of the learned Coin Game estimators.

        A learned estimator trains on ``device`` (the learner's) unless ``estimator_config`` names one.
        """
        kind = self.resolved_influence_estimator()
        if kind == "matrix":
            return MatrixInfluence(**self.estimator_config)
        game = get_game(self.env).batched(num_games=1, **game_kwargs(self.env, self.env_config))
        common = dict(num_steps=game.num_steps, gamma=self.gamma, seed=self.seed or 0,
                      **{"device": device, **self.estimator_config})
        if kind == "transition":
            return CoinTransitionInfluence(grid_size=game.grid_size, **common)
        obs_dim = int(game.observation_space().shape[0])
        return RewardFutureInfluence(num_players=game.num_players, obs_dim=obs_dim, **common)

    def _sync_players(self) -> None:
        """Derive the players' policies from ``agent_types``: one per seat, the learners trained."""
        agent_ids = self.agent_ids()
        self.multi_agent(
            policies=list(agent_ids),
            policy_mapping_fn=policy_mapping_fn,
            policies_to_train=[aid for aid, kind in zip(agent_ids, self.agent_types) if kind in LEARNER_TYPES],
        )

    @override(PPOConfig)
    def get_multi_rl_module_spec(self, **kwargs) -> MultiRLModuleSpec:
        """The players' modules as ``agent_types`` says: a fixed strategy's module in its seat, the
        ``policy_model`` in each learner's. A spec set with ``.rl_module(rl_module_spec=...)`` wins: an
        ``RLModuleSpec`` is every learner's module, a ``MultiRLModuleSpec`` the module of each id it names."""
        user = self._rl_module_spec
        learner = user if isinstance(user, RLModuleSpec) else self._learner_module_spec()
        specs = players.player_module_specs(self.agent_types, learner)
        if isinstance(user, MultiRLModuleSpec):
            players_spec = copy.deepcopy(user)
            players_spec.rl_module_specs = {**specs, **players_spec.rl_module_specs}
        else:
            players_spec = MultiRLModuleSpec(rl_module_specs=specs)
        derived = self.copy(copy_frozen=False)
        derived._rl_module_spec = players_spec
        return PPOConfig.get_multi_rl_module_spec(derived, **kwargs)

    def _learner_module_spec(self) -> RLModuleSpec:
        if self.policy_model == "conv_gru":
            steps = self.env_config.get("num_steps", 32)
            return RLModuleSpec(module_class=ConvGRUTorchRLModule, model_config={
                "grid_size": self.env_config.get("grid_size", 3), "hidden": 32, "max_seq_len": steps + 1})
        if self.policy_model == "mlp":
            return players.mlp_learner_spec(self.policy_hiddens, self.policy_activation)
        return RLModuleSpec()

    def get_default_learner_class(self):
        from rllib_ext.algorithms.reciprocator.torch.reciprocator_torch_learner import ReciprocatorTorchLearner

        return ReciprocatorTorchLearner

    def validate(self) -> None:
        if not self._is_frozen:
            self._sync_players()  # agent_types set as an attribute (--set, Tune) reaches the policies
        super().validate()
        bad = [k for k in self.agent_types if k not in AGENT_TYPES]
        if bad:
            self._value_error(f"agent_types: unknown type(s) {bad}; known types: {', '.join(AGENT_TYPES)}")
        if not any(k in LEARNER_TYPES for k in self.agent_types):
            self._value_error("agent_types: at least one player must learn ('reciprocator' or 'naive')")
        if isinstance(self.env, str):
            game = get_game(self.env)
            players = len(game.reference(**self.env_config).possible_agents)
            if len(self.agent_types) != players:
                self._value_error(f"agent_types lists {len(self.agent_types)} players but {self.env} has {players}")
            if self.env != "ipd" and any(k in IPD_STRATEGIES for k in self.agent_types):
                self._value_error(f"agent_types: {', '.join(IPD_STRATEGIES)} are IPD strategies")
        if self.policy_model not in ("mlp", "conv_gru", "default"):
            self._value_error(f"policy_model: unknown {self.policy_model!r}; known: mlp, conv_gru, default")
        if self.policy_activation not in ("tanh", "relu"):
            self._value_error(f"policy_activation: unknown {self.policy_activation!r}; known: tanh, relu")
        if self.policy_model == "conv_gru" and self.env != "coin_game":
            self._value_error("policy_model: conv_gru is the Coin Game policy")
        estimator = self.resolved_influence_estimator()
        if estimator not in ("matrix", "transition", "reward_future"):
            self._value_error(f"influence_estimator: unknown {estimator!r}; known: auto, matrix, transition, reward_future")
        if (estimator == "matrix") != (self.env == "ipd"):
            self._value_error(f"influence_estimator: {estimator!r} does not fit {self.env!r} (matrix is the IPD one)")
        derived = {"num_steps", "gamma", "seed", "grid_size", "num_players", "obs_dim"}  # set by build_estimator
        known = set(inspect.signature(ESTIMATORS.get(estimator, MatrixInfluence)).parameters) - derived
        unknown = sorted(set(self.estimator_config) - known)
        if unknown:
            self._value_error(f"estimator_config: unknown key(s) {unknown} for the {estimator} estimator; "
                              f"known: {', '.join(sorted(known)) or 'none'}")
        if estimator == "transition" and (
                self.env_config.get("num_players", 2) != 2 or self.env_config.get("grid_size", 3) != 3):
            self._value_error("influence_estimator: transition is for 2-player 3x3 Coin Games")
        kind = self.resolved_reciprocal_reward_type()
        if kind not in RECIPROCAL_REWARD_TYPES + (IPD_ONE_STEP,):
            self._value_error(f"reciprocal_reward_type: unknown {kind!r}; known: "
                              f"{', '.join(RECIPROCAL_REWARD_TYPES + (IPD_ONE_STEP,))}")
        w = self.reciprocal_reward_weight
        if isinstance(w, (int, float)) and w < 0 or not isinstance(w, (int, float)) and (len(w) != 3 or min(w) < 0):
            self._value_error(f"reciprocal_reward_weight: {w!r}; expected a number >= 0 or (start, end, rate) >= 0")
        for name in ("warmup_episodes", "estimator_fit_initialization_episodes"):
            if getattr(self, name) < 0:
                self._value_error(f"{name} must be >= 0")
        if self.estimator_fit_period < 1:
            self._value_error("estimator_fit_period must be >= 1")
        if self.num_learners > 1 and self.reciprocator_ids():
            self._value_error(f"num_learners={self.num_learners}: the influence estimator must see every episode, "
                              "but each learner gets a shard of them; use one learner (num_learners 0 or 1, "
                              "on a GPU with num_gpus_per_learner=1)")


class Reciprocator(PPO):
    """PPO with reciprocal reward shaping; the first ``warmup_episodes`` iterations only fit the estimator."""

    @classmethod
    def get_default_config(cls) -> ReciprocatorConfig:
        return ReciprocatorConfig()

    def training_step(self) -> None:
        if self.iteration >= self.config.warmup_episodes:
            return super().training_step()
        episodes, env_runner_results = synchronous_parallel_sample(
            worker_set=self.env_runner_group,
            max_env_steps=self.config.total_train_batch_size,
            sample_timeout_s=self.config.sample_timeout_s,
            _uses_new_env_runners=True,
            _return_metrics=True,
        )
        self.metrics.aggregate(env_runner_results, key=ENV_RUNNER_RESULTS)
        self.learner_group.foreach_learner(lambda learner, _eps=episodes: learner.observe_episodes(_eps))

    def get_state(self, components=None, *, not_components=None, **kwargs):
        state = super().get_state(components, not_components=not_components, **kwargs)
        results = self.learner_group.foreach_learner(lambda learner: learner.get_estimator_state())
        state["influence_estimator"] = next(iter(results)).get()
        return state

    def set_state(self, state) -> None:
        super().set_state(state)
        if "influence_estimator" in state:
            estimator = state["influence_estimator"]
            self.learner_group.foreach_learner(lambda learner: learner.set_estimator_state(estimator))
