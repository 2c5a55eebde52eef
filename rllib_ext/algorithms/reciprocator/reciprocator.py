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
from ray.rllib.utils import force_list
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import (
    ALL_MODULES,
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_MODULE_STEPS_TRAINED_LIFETIME,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TIMERS,
)

from envs.games import GAMES, get_game
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
from rllib_ext.algorithms.reciprocator.reward_influence_connector import add_to_rewards, joint_arrays
from rllib_ext.algorithms.reciprocator.torch.conv_gru_torch_rl_module import ConvGRUTorchRLModule
from rllib_ext.algorithms.reciprocator.torch.reciprocator_torch_learner import ppo_update_problem
from rllib_ext.core.fixed_strategies import FIXED_STRATEGIES, IPD_STRATEGIES
from rllib_ext.env.batched_game_env_runner import BatchedGameEnvRunner, log_game_metrics

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
        self.ppo_update = "official"  # K full-batch steps, A = G_norm - V recomputed each step; or "rllib"
        self.warmup_episodes = 0  # first iterations in which only the estimator learns
        self.estimator_fit_initialization_episodes = 2  # refit after each of the first episodes...
        self.estimator_fit_period = 2  # ...then every this many
        self.influence_estimator = "auto"  # the official choice per game (see training())
        self.estimator_config: Dict = {}  # keyword arguments of the learned estimator
        self.policy_model = "mlp"  # separate actor and critic MLPs; conv_gru; default (RLlib's)
        self.policy_hiddens: List[int] = [2, 2]  # the mlp policy's hidden sizes (official IPD)
        self.policy_activation = "tanh"  # tanh or relu (the official IPD networks)
        self.bulk_learner_batch = True  # PPO's train batch built in bulk from whole episodes
        self.episode_length: Optional[int] = None  # None: the package game's num_steps (default 32)
        # The official PPO: lambda 1 (Monte-Carlo), no KL term, no clipping of the value loss or gradients.
        self.lambda_ = 1.0
        self.use_kl_loss = False
        self.vf_clip_param = float("inf")
        self.grad_clip = None
        # Laptop defaults: IPD, 64 games on the local env runner, whole episodes; one batch = one episode
        # of every game (derived in validate, as are the runner and the minibatch).
        self.env = "ipd"
        self.num_env_runners = 0
        self.num_envs_per_env_runner = 64
        self.batch_mode = "complete_episodes"
        self._train_batch_size_per_learner = None  # None: games x episode length / learners
        self.minibatch_size = None  # None: the whole batch (used by ppo_update="rllib" only)
        self.env_runner_cls = None  # None: BatchedGameEnvRunner on the package's games, else RLlib's
        # fmt: on
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
        ppo_update: str = NotProvided,
        warmup_episodes: int = NotProvided,
        estimator_fit_initialization_episodes: int = NotProvided,
        estimator_fit_period: int = NotProvided,
        influence_estimator: str = NotProvided,
        estimator_config: Dict = NotProvided,
        policy_model: str = NotProvided,
        policy_hiddens: List[int] = NotProvided,
        policy_activation: str = NotProvided,
        bulk_learner_batch: bool = NotProvided,
        episode_length: Optional[int] = NotProvided,
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
            ppo_update: ``official`` (the official ``PPO.update``: ``num_epochs`` Adam steps, each over the
                whole batch, with ``A = G_norm - V(s)`` recomputed at every step with the current critic;
                ``minibatch_size`` does not apply) or ``rllib`` (RLlib's PPO update: advantages fixed
                before the epochs, shuffled cyclic minibatches of ``minibatch_size``).
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
            episode_length: the fixed number of steps of every episode; None takes the package game's
                ``num_steps`` (default 32); required for any other env.
        """
        super().training(**kwargs)
        for name, value in dict(
            agent_types=agent_types, reciprocal_reward_type=reciprocal_reward_type,
            reciprocal_reward_weight=reciprocal_reward_weight,
            normalize_reciprocal_reward=normalize_reciprocal_reward, normalize_returns=normalize_returns,
            center_returns=center_returns, ppo_update=ppo_update, warmup_episodes=warmup_episodes,
            estimator_fit_initialization_episodes=estimator_fit_initialization_episodes,
            estimator_fit_period=estimator_fit_period, estimator_config=estimator_config,
            influence_estimator=influence_estimator,
            policy_model=policy_model, policy_hiddens=policy_hiddens, policy_activation=policy_activation,
            bulk_learner_batch=bulk_learner_batch, episode_length=episode_length,
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

    def is_package_game(self) -> bool:
        """Whether ``env`` names one of the package's games (``envs.games``) rather than a user's env."""
        return isinstance(self.env, str) and self.env in GAMES

    def resolved_episode_length(self) -> Optional[int]:
        if self.episode_length is not None:
            return int(self.episode_length)
        return int(self.env_config.get("num_steps", 32)) if self.is_package_game() else None

    def resolved_influence_estimator(self) -> str:
        """``auto``: the official choice, the closed form for IPD, the transition-model estimator for 2-player
        3x3 Coin Games, the reward + future-return one for any other game."""
        if self.influence_estimator != "auto":
            return self.influence_estimator
        if self.env == "ipd":
            return "matrix"
        small = self.env_config.get("num_players", 2) == 2 and self.env_config.get("grid_size", 3) == 3
        return "transition" if self.env == "coin_game" and small else "reward_future"

    def build_estimator(self, obs_dim: int, device: str = "cpu"):
        """The influence estimator: IPD closed form, or a learned one for players with ``obs_dim``-sized flat
        observations. A learned estimator trains on ``device`` (the learner's) unless ``estimator_config``
        names one."""
        kind = self.resolved_influence_estimator()
        if kind == "matrix":
            return MatrixInfluence(**self.estimator_config)
        common = dict(num_steps=self.resolved_episode_length(), gamma=self.gamma, seed=self.seed or 0,
                      **{"device": device, **self.estimator_config})
        if kind == "transition":
            return CoinTransitionInfluence(grid_size=self.env_config.get("grid_size", 3), **common)
        return RewardFutureInfluence(num_players=len(self.agent_types), obs_dim=obs_dim, **common)

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
            steps = self.resolved_episode_length() or 32
            return RLModuleSpec(module_class=ConvGRUTorchRLModule, model_config={
                "grid_size": self.env_config.get("grid_size", 3), "hidden": 32, "max_seq_len": steps + 1})
        if self.policy_model == "mlp":
            return players.mlp_learner_spec(self.policy_hiddens, self.policy_activation)
        return RLModuleSpec()

    def get_default_learner_class(self):
        from rllib_ext.algorithms.reciprocator.torch.reciprocator_torch_learner import ReciprocatorTorchLearner

        return ReciprocatorTorchLearner

    def _derive_settings(self) -> None:
        """The runner and the batch the defaults leave open: the batched runner on the package's games (on
        another runner, a callback logs their game metrics), one episode of every game per batch (split across
        the learners), the whole batch as the minibatch."""
        if self.env_runner_cls is None and self.is_package_game():
            self.env_runner_cls = BatchedGameEnvRunner
        if self.is_package_game() and not issubclass(self.env_runner_cls or object, BatchedGameEnvRunner):
            hooks = force_list(self.callbacks_on_sample_end)  # the game metrics under the batched runner's keys
            if log_game_metrics not in hooks:
                self.callbacks_on_sample_end = [*hooks, log_game_metrics]
        steps = self.resolved_episode_length()
        if self._train_batch_size_per_learner is None and steps:
            games = self.num_envs_per_env_runner * max(1, self.num_env_runners)
            self.train_batch_size_per_learner = -(-games * steps // max(1, self.num_learners))
        if self.minibatch_size is None:
            self.minibatch_size = self.train_batch_size_per_learner

    def validate(self) -> None:
        if self.resolved_episode_length() is None:
            self._value_error(f"episode_length: give the fixed number of steps of {self.env!r}'s episodes "
                              "(.training(episode_length=T)); only the package's games know theirs")
        if not self._is_frozen:
            self._sync_players()  # agent_types set as an attribute (--set, Tune) reaches the policies
            self._derive_settings()
        super().validate()
        bad = [k for k in self.agent_types if k not in AGENT_TYPES]
        if bad:
            self._value_error(f"agent_types: unknown type(s) {bad}; known types: {', '.join(AGENT_TYPES)}")
        if not any(k in LEARNER_TYPES for k in self.agent_types):
            self._value_error("agent_types: at least one player must learn ('reciprocator' or 'naive')")
        if self.is_package_game():
            game = get_game(self.env)
            players = len(game.reference(**self.env_config).possible_agents)
            if len(self.agent_types) != players:
                self._value_error(f"agent_types lists {len(self.agent_types)} players but {self.env} has {players}")
        if self.env != "ipd" and any(k in IPD_STRATEGIES for k in self.agent_types):
            self._value_error(f"agent_types: {', '.join(IPD_STRATEGIES)} are IPD strategies")
        if problem := ppo_update_problem(self):
            self._value_error(problem)
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
        if estimator == "transition" and (self.env != "coin_game" or
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


class Reciprocator(PPO):
    """PPO with reciprocal reward shaping.

    Each iteration samples whole episodes, then one learner (the estimator's host, the first) gets the
    iteration's whole joint batch (every player's observations, actions and extrinsic rewards), lets the
    influence estimator observe it (and refit on its schedule) and returns the Reciprocators' weighted
    reciprocal rewards, which are added to the episodes before RLlib's PPO update splits them across the
    learners: with any ``num_learners`` one estimator sees every episode. During the first
    ``warmup_episodes`` iterations only the estimator learns (official ``CoinsTrainer``). Without a
    Reciprocator in the game this is RLlib's PPO training step. Checkpoints carry the estimator.
    """

    @classmethod
    def get_default_config(cls) -> ReciprocatorConfig:
        return ReciprocatorConfig()

    def setup(self, config) -> None:
        super().setup(config)
        first = next(iter(self.learner_group.foreach_learner(lambda learner: None)))
        self._estimator_host = [first.actor_id]  # None for a local learner

    def _on_estimator_host(self, func):
        results = self.learner_group.foreach_learner(func, remote_actor_ids=self._estimator_host)
        return next(iter(results)).get()

    def training_step(self) -> None:
        if not self.config.reciprocator_ids():
            return super().training_step()
        config = self.config
        budget = "max_agent_steps" if config.count_steps_by == "agent_steps" else "max_env_steps"
        with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
            episodes, env_runner_results = synchronous_parallel_sample(
                worker_set=self.env_runner_group, sample_timeout_s=config.sample_timeout_s,
                _uses_new_env_runners=True, _return_metrics=True, **{budget: config.total_train_batch_size})
            if not episodes:
                return
            self.metrics.aggregate(env_runner_results, key=ENV_RUNNER_RESULTS)
        if self.iteration < config.warmup_episodes:
            obs, actions, rewards = joint_arrays(episodes, config.agent_ids(), drop_last=False)
            self._on_estimator_host(lambda learner: learner.observe_joint_batch(obs, actions, rewards))
            return
        self.shape_rewards(episodes)
        with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
            learner_results = self.learner_group.update(
                episodes=episodes,
                timesteps={
                    NUM_ENV_STEPS_SAMPLED_LIFETIME: self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME)),
                    NUM_MODULE_STEPS_TRAINED_LIFETIME: self.metrics.peek(
                        (LEARNER_RESULTS, ALL_MODULES, NUM_MODULE_STEPS_TRAINED_LIFETIME), default=0),
                },
                num_epochs=config.num_epochs,
                minibatch_size=config.minibatch_size,
                shuffle_batch_per_epoch=config.shuffle_batch_per_epoch,
            )
            self.metrics.aggregate(learner_results, key=LEARNER_RESULTS)
        with self.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
            self.env_runner_group.sync_weights(from_worker_or_learner_group=self.learner_group,
                                               policies=set(learner_results[0]) - {ALL_MODULES}, inference_only=True)

    def shape_rewards(self, episodes) -> None:
        """Add the Reciprocators' weighted reciprocal rewards to their rewards in ``episodes`` (whole joint
        episodes), computed by the estimator's host on the whole batch (the estimator observes it first)."""
        obs, actions, rewards = joint_arrays(episodes, self.config.agent_ids(), drop_last=False)
        shaped = self._on_estimator_host(lambda learner: learner.shaped_rewards(obs, actions, rewards))
        for aid, extra in shaped.items():
            add_to_rewards(episodes, aid, extra)

    def get_state(self, components=None, *, not_components=None, **kwargs):
        state = super().get_state(components, not_components=not_components, **kwargs)
        state["influence_estimator"] = self._on_estimator_host(lambda learner: learner.get_estimator_state())
        return state

    def set_state(self, state) -> None:
        super().set_state(state)
        if "influence_estimator" in state:
            estimator = state["influence_estimator"]
            self._on_estimator_host(lambda learner: learner.set_estimator_state(estimator))
