"""Every algorithm of the package, one entry each: what it trains on, how its config is built, its presets,
default budget and headline metrics. The CLI, the training loop, evaluation and searches dispatch on the entry;
``register_trainables`` gives each algorithm its Tune name (``import rllib_ext`` calls it)."""

import os
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple

from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.algorithms.ppo import PPO
from ray.tune.registry import register_trainable

from envs.games import get_game
from envs.ogbench.dataset import check_dataset_name
from rllib_ext.algorithms import naive_ppo
from rllib_ext.algorithms.gcrl import CRL, GCBC, GCIQL, GCIVL, HIQL, QRL, SAW
from rllib_ext.algorithms.mfos import MFOS
from rllib_ext.algorithms.mfos import presets as mfos_presets
from rllib_ext.algorithms.mfos.meta_game_env_runner import META_GAMES
from rllib_ext.algorithms.reciprocator import presets as reciprocator_presets
from rllib_ext.algorithms.reciprocator.reciprocator import AGENT_TYPES as RECIPROCATOR_AGENT_TYPES
from rllib_ext.algorithms.reciprocator.reciprocator import Reciprocator
from rllib_ext.utils.overrides import apply_overrides, env_overrides

GAME, OFFLINE = "game", "offline"
"""Kinds: trained on a game (``--env``, budget in iterations) or offline on an OGBench dataset (``--dataset``,
budget in gradient steps, evaluated on the dataset's 5 tasks)."""
PRESETS = ("paper", "small")
OFFLINE_STEPS = {"paper": 1_000_000, "small": 20_000}
"""Default gradient steps of the offline algorithms per preset."""


@dataclass(frozen=True)
class AlgorithmEntry:
    name: str
    """The CLI's name."""
    kind: str
    summary: str
    algo_class: type
    """The RLlib ``Algorithm``; its class name is its Tune name."""
    build: Callable[..., AlgorithmConfig]
    """Game: ``build(env, agents, preset, env_config=, seed=)``; offline: the config class."""
    agent_types: Tuple[str, ...] = ()
    default_agent: str = ""
    finalize: Optional[Callable[[AlgorithmConfig, set], None]] = None
    """Game: re-derive dependent settings (batch sizes) after ``--set`` overrides."""
    env_settings: Optional[Callable[[str], type]] = None
    """Game: the class whose keyword arguments are a target's ``env.*`` settings, when the target is not one of
    the package's games (M-FOS's meta-games); ``build`` then gets ``agents=None`` without ``--agents``."""
    iterations: Optional[Callable[[str, str], int]] = None
    """Game: the default iterations of ``(target, preset)``, when not naive PPO's."""
    headline: Optional[Callable[[AlgorithmConfig], Tuple[str, ...]]] = None
    """Game: the headline metrics of a config, when not its game's."""

    def default_budget(self, target: str, preset: str) -> int:
        """Iterations (games: the preset's) or gradient steps (offline) of a run without an explicit budget."""
        if self.kind == OFFLINE:
            return OFFLINE_STEPS[preset]
        if self.iterations is not None:
            return self.iterations(target, preset)
        return naive_ppo.PRESETS[target][preset]["iterations"]

    def headline_metrics(self, config: AlgorithmConfig) -> Tuple[str, ...]:
        """The metrics progress lines, tables and plots show (per player on games)."""
        if self.kind == OFFLINE:
            return ("success",)
        return self.headline(config) if self.headline else get_game(config.env).headline_metrics


ALGORITHMS: Dict[str, AlgorithmEntry] = {
    entry.name: entry for entry in (
        AlgorithmEntry("ppo", GAME, "independent learners with RLlib's own PPO (GAE, lambda 1), one policy per "
                       "player; the official naive learner is: reciprocator --agents naive,naive", PPO,
                       naive_ppo.naive_ppo_config, tuple(naive_ppo.AGENT_TYPES), "naive",
                       naive_ppo.match_batch_to_games),
        AlgorithmEntry("reciprocator", GAME,
                       "Reciprocators: PPO learners with reciprocal reward shaping, against any mix of players",
                       Reciprocator, reciprocator_presets.reciprocator_config, RECIPROCATOR_AGENT_TYPES,
                       "reciprocator", naive_ppo.match_batch_to_games),
        AlgorithmEntry("mfos", GAME, "M-FOS: PPO on the meta-game against a learner that is re-drawn every "
                       "meta-episode (player_0 = M-FOS, player_1 = its opponent)", MFOS, mfos_presets.mfos_config,
                       mfos_presets.AGENT_TYPES, "mfos", env_settings=META_GAMES.__getitem__,
                       iterations=mfos_presets.default_iterations,
                       headline=mfos_presets.headline_metrics),
        AlgorithmEntry("saw", OFFLINE, "SAW: one flat goal-conditioned policy bootstrapped on subgoal-conditioned "
                       "policies", SAW, SAW.get_default_config),
        AlgorithmEntry("hiql", OFFLINE, "HIQL: hierarchical implicit Q-learning, latent subgoals as actions", HIQL,
                       HIQL.get_default_config),
        AlgorithmEntry("gcivl", OFFLINE, "GCIVL: goal-conditioned implicit V-learning with an AWR actor", GCIVL,
                       GCIVL.get_default_config),
        AlgorithmEntry("gciql", OFFLINE, "GCIQL: goal-conditioned implicit Q-learning with a DDPG+BC actor", GCIQL,
                       GCIQL.get_default_config),
        AlgorithmEntry("qrl", OFFLINE, "QRL: quasimetric RL (IQE distance, latent dynamics, DDPG+BC actor)", QRL,
                       QRL.get_default_config),
        AlgorithmEntry("crl", OFFLINE, "CRL: contrastive RL (binary NCE critic, DDPG+BC actor)", CRL,
                       CRL.get_default_config),
        AlgorithmEntry("gcbc", OFFLINE, "GCBC: goal-conditioned behaviour cloning", GCBC, GCBC.get_default_config),
    )
}


def get_algorithm(name: str) -> AlgorithmEntry:
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; known algorithms: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]


def entry_of(algo: Algorithm) -> AlgorithmEntry:
    """The entry of a built or restored algorithm (its nearest class with one: Tune may subclass it)."""
    for cls in type(algo).__mro__:
        for entry in ALGORITHMS.values():
            if cls is entry.algo_class:
                return entry
    raise ValueError(f"{type(algo).__name__} is not an algorithm of this package")


def register_trainables() -> None:
    """Register every algorithm with Tune under its class name (``tune.Tuner("SAW", ...)``); RLlib has "PPO"."""
    for entry in ALGORITHMS.values():
        if entry.algo_class is not PPO:
            register_trainable(entry.algo_class.__name__, entry.algo_class)


def build_config(
    algo: str,
    target: Optional[str],
    agents: Optional[Sequence[str]] = None,
    preset: str = "small",
    sets: Sequence[str] = (),
    seed: Optional[int] = None,
    *,
    data_file: Optional[str] = None,
    eval_episodes: int = 20,
) -> AlgorithmConfig:
    """A validated config of ``algo`` on ``target`` (a game, or an OGBench dataset with its ``data_file``, default
    ``data/TARGET.npz``), with a preset and ``--set`` overrides; every error here comes before Ray starts."""
    entry = get_algorithm(algo)
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS)}")
    if entry.kind == OFFLINE:
        if not target:
            raise ValueError(f"{algo} trains offline: give --dataset (and --data FILE)")
        check_dataset_name(target)
        data_file = os.path.abspath(data_file or f"data/{target}.npz")
        if not os.path.isfile(data_file):
            raise FileNotFoundError(f"no dataset file {data_file}; make one with: rllib-ext datagen {target} --out {data_file}")
        if eval_episodes < 1:
            raise ValueError(f"--eval-episodes must be >= 1, got {eval_episodes}")
        config = (
            entry.build()
            .training(dataset_path=data_file, dataset_name=target)
            .preset(preset)
            .evaluation(evaluation_duration=eval_episodes)
            .debugging(seed=seed)
        )
        apply_overrides(config, sets)
    else:
        if not target:
            raise ValueError(f"{algo} trains on a game: give --env (ipd or coin_game)")
        env_sets = [s for s in sets if s.strip().startswith("env.")]
        if entry.env_settings is not None:
            entry.build(target, agents, preset)  # names a bad env or --agents first
            env_config = env_overrides(env_sets, entry.env_settings(target))
        else:
            game = get_game(target)
            env_config = env_overrides(env_sets, game.reference)
            if agents is None:
                agents = [entry.default_agent] * len(game.reference(**env_config).possible_agents)
        config = entry.build(target, agents, preset, env_config=env_config, seed=seed)
        changed = apply_overrides(config, [s for s in sets if s not in env_sets])
        if entry.finalize is not None:
            entry.finalize(config, changed)
    try:
        config.validate()
    except (ValueError, TypeError) as e:
        raise ValueError(f"invalid configuration: {e}") from None
    return config
