"""The algorithms the CLI knows, by name, and how each one builds its AlgorithmConfig."""

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Set

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

from rllib_ext import naive_ppo
from rllib_ext.reciprocator import presets as reciprocator_presets
from rllib_ext.reciprocator.reciprocator import AGENT_TYPES as RECIPROCATOR_AGENT_TYPES


@dataclass(frozen=True)
class AlgorithmEntry:
    """How the CLI builds one algorithm: config builder, agent types, presets, batch sizing."""

    name: str
    summary: str
    agent_types: Sequence[str]
    default_agent: str
    build: Callable[..., AlgorithmConfig]
    """``build(env, agents, preset, env_config, seed) -> AlgorithmConfig`` (no Ray needed)."""
    finalize: Callable[[AlgorithmConfig, Set[str]], None]
    """Re-derive dependent settings (batch sizes) after ``--set`` overrides."""
    default_iterations: Callable[[str, str], int]


ALGORITHMS: Dict[str, AlgorithmEntry] = {
    "ppo": AlgorithmEntry(
        name="ppo",
        summary="independent naive learners: RLlib PPO, one policy per player",
        agent_types=tuple(naive_ppo.AGENT_TYPES),
        default_agent="naive",
        build=naive_ppo.naive_ppo_config,
        finalize=naive_ppo.match_batch_to_games,
        default_iterations=naive_ppo.default_iterations,
    ),
    "reciprocator": AlgorithmEntry(
        name="reciprocator",
        summary="Reciprocators: PPO learners with reciprocal reward shaping, against any mix of players",
        agent_types=RECIPROCATOR_AGENT_TYPES,
        default_agent="reciprocator",
        build=reciprocator_presets.reciprocator_config,
        finalize=naive_ppo.match_batch_to_games,
        default_iterations=reciprocator_presets.default_iterations,
    ),
}

PRESETS = ("paper", "small")

OFFLINE_ALGORITHMS = {
    "saw": "SAW: one flat goal-conditioned policy bootstrapped on subgoal-conditioned policies",
    "gcivl": "GCIVL: SAW without the bootstrapping term (OGBench's GCIVL settings)",
    "gcbc": "GCBC: goal-conditioned behaviour cloning",
}
"""Offline goal-conditioned algorithms (``--dataset``), built from ``rllib_ext.saw``."""


def _unknown_algorithm(name: str) -> ValueError:
    return ValueError(f"unknown algorithm {name!r}; known algorithms: {', '.join([*ALGORITHMS, *OFFLINE_ALGORITHMS])}")


def get_algorithm(name: str) -> AlgorithmEntry:
    if name not in ALGORITHMS:
        raise _unknown_algorithm(name)
    return ALGORITHMS[name]


def build_offline_config(
    algo: str,
    dataset: str,
    data_file: str,
    preset: str,
    sets: Sequence[str],
    seed: Optional[int],
    eval_episodes: int,
) -> AlgorithmConfig:
    """A validated SAW / GCIVL / GCBC config on an OGBench-format file; errors come before Ray starts."""
    import os

    from envs.ogbench_dataset import check_dataset_name
    from rllib_ext.overrides import apply_overrides
    from rllib_ext.saw import GCBCConfig, GCIVLConfig, SAWConfig

    if algo not in OFFLINE_ALGORITHMS:
        raise _unknown_algorithm(algo)
    check_dataset_name(dataset)
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS)}")
    if not os.path.isfile(data_file):
        raise FileNotFoundError(f"no dataset file {data_file}; make one with: rllib-ext datagen {dataset} --out {data_file}")
    if eval_episodes < 1:
        raise ValueError(f"--eval-episodes must be >= 1, got {eval_episodes}")
    config_cls = {"saw": SAWConfig, "gcivl": GCIVLConfig, "gcbc": GCBCConfig}[algo]
    config = (
        config_cls()
        .training(dataset_path=data_file, dataset_name=dataset)
        .preset(preset)
        .evaluation(evaluation_duration=eval_episodes)
        .debugging(seed=seed)
    )
    apply_overrides(config, sets)
    try:
        config.validate()
    except (ValueError, TypeError) as e:
        raise ValueError(f"invalid configuration: {e}") from None
    return config


def build_config(
    algo: str,
    env: str,
    agents: Optional[Sequence[str]],
    preset: str,
    sets: Sequence[str],
    seed: Optional[int],
) -> AlgorithmConfig:
    """A validated config for ``algo`` on ``env``; every error here comes before Ray starts."""
    from envs import get_game
    from rllib_ext.overrides import apply_overrides, env_overrides

    entry = get_algorithm(algo)
    game = get_game(env)
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS)}")
    env_sets = [s for s in sets if s.strip().startswith("env.")]
    env_config = env_overrides(env_sets, game.reference)
    if agents is None:
        agents = [entry.default_agent] * len(game.reference(**env_config).possible_agents)
    config = entry.build(env, agents, preset, env_config=env_config, seed=seed)
    changed = apply_overrides(config, [s for s in sets if s not in env_sets])
    entry.finalize(config, changed)
    try:
        config.validate()
    except (ValueError, TypeError) as e:
        raise ValueError(f"invalid configuration: {e}") from None
    return config
