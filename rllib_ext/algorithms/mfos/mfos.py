"""M-FOS (Lu, Willi, Schroeder de Witt, Foerster 2022, "Model-Free Opponent Shaping") as an RLlib algorithm.

M-FOS plays a meta-game: one meta-step is one inner game against a *learning* opponent, which updates between
meta-steps and is re-drawn at every meta-episode; M-FOS's action is its inner policy and its reward its inner
return, so PPO on the meta-game learns to shape the opponent's learning. The opponent lives inside the
meta-game (``meta_game_env_runner``); only M-FOS (``player_0``) is an RLlib module trained by the learner, one
update per batch of whole meta-episodes (one meta-episode of every game), as ``src/main_mfos_ppo.py`` does.

Meta-games (``env``): ``ipd_analytic``, the official analytic IPD against the exact naive learner
(``analytic_ipd.py``), and ``ipd`` / ``coin_game``, the sampled meta-game on the package's games against this
package's naive learner or a Reciprocator (``sampled_meta_game.py``).

``MFOSConfig`` is a ``PPOConfig`` with the official numbers (``main_mfos_ppo.py``, ``ppo.py``) and the official
update: Monte-Carlo returns over the meta-episode (gamma 0.99, no bootstrapping), standardised over the batch
as value targets, ``A = G_norm - V(s)`` recomputed each epoch (advantages not standardised), 4 full-batch Adam
steps (``OfficialPPOTorchLearner``).

    config = MFOSConfig().environment("ipd_analytic")   # 256 games; .env_runners(num_envs_per_env_runner=4096)
    algo = config.build_algo()
    algo.train()   # one meta-episode of every game, one PPO update
"""

import inspect
from typing import List

import numpy as np
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.ppo import PPO, PPOConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override

from rllib_ext.algorithms.mfos.meta_game_env_runner import ANALYTIC, META_GAMES, SET_BY_CONFIG, MetaGameEnvRunner
from rllib_ext.algorithms.mfos.sampled_meta_game import INNER_LEARNERS, SampledMetaGame
from rllib_ext.algorithms.mfos.torch.mfos_torch_rl_module import MFOSTorchRLModule
from rllib_ext.algorithms.players import mlp_learner_spec, policy_mapping_fn
from rllib_ext.algorithms.reciprocator.torch.reciprocator_torch_learner import ppo_update_problem

MFOS_ID = "player_0"
"""M-FOS's agent and module id; the opponent is ``player_1`` in the logs."""
OPPONENTS = {ANALYTIC: ("naive",), "ipd": INNER_LEARNERS, "coin_game": INNER_LEARNERS}
"""Opponents inside each meta-game: the naive learner (on the analytic IPD the exact gradient learner, on the
sampled games this package's PPO learner) or a Reciprocator (sampled games)."""


class MFOSConfig(PPOConfig):
    """PPOConfig with M-FOS's meta-game and the official PPO settings (see ``training()``)."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or MFOS)
        # fmt: off
        self.opponent = "naive"  # the learner inside the meta-game (OPPONENTS[env])
        self.hidden = 256  # width of M-FOS's actor and critic (ppo.py ActorCritic; one layer, two on sampled games)
        # The official PPO (main_mfos_ppo.py, ppo.py): Monte-Carlo returns over the 100 meta-steps, no GAE.
        self.gamma = 0.99
        self.lr = 0.002  # Adam, betas (0.9, 0.999) as RLlib's default
        self.num_epochs = 4  # full-batch Adam steps per update
        self.clip_param = 0.2
        self.entropy_coeff = 0.01
        self.vf_loss_coeff = 0.5
        self.lambda_ = 1.0
        self.use_kl_loss = False
        self.vf_clip_param = float("inf")
        self.grad_clip = None
        self.normalize_returns = True  # value targets = batch-standardised returns, A = G_norm - V
        self.center_returns = True  # subtract their mean too (ppo.py does)
        self.ppo_update = "official"  # K full-batch steps, A recomputed each step; or "rllib"
        self.bulk_learner_batch = True  # the train batch built in bulk from the whole meta-episodes
        # The meta-game: the analytic IPD; env_config holds its settings (AnalyticMetaIPD's keyword arguments:
        # num_steps 100, gamma 0.96, opponent_lr 1, init_std 1, the official ones).
        self.env = "ipd_analytic"
        self.normalize_actions = False  # M-FOS's actions are unbounded logits
        # The batch: one meta-episode of every game (the official batch_size is the number of games, 4096;
        # this default is a laptop's), derived in validate like the minibatch (the whole batch).
        self.num_env_runners = 0
        self.num_envs_per_env_runner = 256
        self.batch_mode = "complete_episodes"
        self._train_batch_size_per_learner = None  # None: games x meta-steps / learners
        self.minibatch_size = None  # None: the whole batch (used by ppo_update="rllib" only)
        self.env_runner_cls = MetaGameEnvRunner
        # fmt: on
        self.multi_agent(policies=[MFOS_ID], policy_mapping_fn=policy_mapping_fn, policies_to_train=[MFOS_ID])

    def training(self, *, opponent: str = NotProvided, hidden: int = NotProvided, normalize_returns: bool = NotProvided,
                 center_returns: bool = NotProvided, ppo_update: str = NotProvided,
                 bulk_learner_batch: bool = NotProvided, **kwargs) -> "MFOSConfig":
        """M-FOS's settings on top of PPO's.

        Args:
            opponent: the learner inside the meta-game, re-drawn (with its optimiser) every meta-episode:
                ``naive`` (on the analytic IPD the naive learner's exact gradient step every meta-step; on the
                sampled games this package's naive PPO learner, updated after every inner episode) or
                ``reciprocator`` (sampled games: a Reciprocator with its estimator and reciprocal reward).
            hidden: width of M-FOS's actor and critic: one tanh layer on the analytic IPD (the official
                actor-critic), two on the sampled games.
            normalize_returns: value targets = Monte-Carlo returns standardised over the batch, advantage =
                target - V(s) (``ppo.py`` ``PPO.update``) instead of RLlib's GAE.
            center_returns: with ``normalize_returns``, subtract the batch mean before dividing by the std.
            ppo_update: ``official`` (``num_epochs`` Adam steps over the whole batch, the advantage recomputed
                with the current critic at each) or ``rllib`` (RLlib's PPO update).
            bulk_learner_batch: build the train batch from the whole meta-episodes with array operations
                (``connectors.learner.EpisodesToBatchInBulk``; the same batch as RLlib's pieces).
        """
        super().training(**kwargs)
        for name, value in dict(opponent=opponent, hidden=hidden, normalize_returns=normalize_returns,
                                center_returns=center_returns, ppo_update=ppo_update,
                                bulk_learner_batch=bulk_learner_batch).items():
            if value is not NotProvided:
                setattr(self, name, value)
        return self

    def meta_steps(self) -> int:
        """Meta-steps per meta-episode: the analytic IPD's ``num_steps`` (100), the sampled meta-game's
        ``inner_episodes x inner_steps`` (8 x 32)."""
        c = self.env_config
        if self.env == ANALYTIC:
            return int(c.get("num_steps", 100))
        return int(c.get("inner_episodes", 8)) * int(c.get("inner_steps", 32))

    def game_metric_keys(self) -> List[str]:
        """``<player>/<metric>`` of every game metric the meta-game logs (analytic IPD: from one meta-step of one
        game)."""
        if self.env != ANALYTIC:
            return SampledMetaGame.metric_keys(self.env)
        game = META_GAMES[self.env](num_games=1, seed=0, **{**self.env_config, "num_steps": 1})
        game.reset()
        _, _, info = game.step(np.zeros((1, *game.action_shape), game.action_space.dtype))
        metrics = game.metrics(None, None, {k: v[:, None] for k, v in info.items()})
        return [f"{player}/{name}" for player, values in metrics.items() for name in values]

    @override(PPOConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        """The official actor-critic on the analytic IPD; separate tanh MLPs (hidden, hidden) with categorical
        actions on the sampled games."""
        if self.env == ANALYTIC:
            return RLModuleSpec(module_class=MFOSTorchRLModule, model_config={"hidden": self.hidden})
        spec = mlp_learner_spec([self.hidden, self.hidden])
        spec.module_class = super().get_default_rl_module_spec().module_class  # RLlib's PPO module
        return spec

    @override(PPOConfig)
    def get_default_learner_class(self):
        from rllib_ext.algorithms.reciprocator.torch.reciprocator_torch_learner import OfficialPPOTorchLearner

        return OfficialPPOTorchLearner

    def _derive_settings(self) -> None:
        """One meta-episode of every game per batch (split across the learners), the whole batch as minibatch,
        rollouts of whole meta-episodes."""
        steps = self.meta_steps()
        if self._train_batch_size_per_learner is None:
            games = self.num_envs_per_env_runner * max(1, self.num_env_runners)
            self.train_batch_size_per_learner = -(-games * steps // max(1, self.num_learners))
        if self.minibatch_size is None:
            self.minibatch_size = self.train_batch_size_per_learner
        self.rollout_fragment_length = steps

    def validate(self) -> None:
        if self.env not in META_GAMES:
            self._value_error(f"env: unknown M-FOS env {self.env!r}; known: {', '.join(META_GAMES)}")
        if not self._is_frozen:
            self._derive_settings()
        super().validate()
        if self.opponent not in OPPONENTS[self.env]:
            self._value_error(f"opponent: unknown {self.opponent!r} on {self.env}; known: "
                              f"{', '.join(OPPONENTS[self.env])}")
        if self.hidden < 1:
            self._value_error(f"hidden must be >= 1, got {self.hidden}")
        if problem := ppo_update_problem(self):
            self._value_error(problem)
        known = sorted(set(inspect.signature(META_GAMES[self.env]).parameters) - set(SET_BY_CONFIG))
        unknown = sorted(set(self.env_config) - set(known))
        if unknown:
            self._value_error(f"env_config: unknown key(s) {unknown} for {self.env}; known: {', '.join(known)}")
        if self.meta_steps() < 1:
            self._value_error(f"env_config: a meta-episode needs at least one meta-step, got {self.meta_steps()}")


class MFOS(PPO):
    """M-FOS: PPO on the meta-game (``MFOSConfig``); each ``train()`` plays one meta-episode of every game on
    the meta-game runner and makes one PPO update of M-FOS."""

    @classmethod
    @override(PPO)
    def get_default_config(cls) -> MFOSConfig:
        return MFOSConfig()
