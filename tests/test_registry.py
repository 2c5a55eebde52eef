"""The registry: one entry per algorithm, every algorithm a Tune trainable by name on ``import rllib_ext``."""

import subprocess
import sys

import pytest
from ray import tune
from ray.rllib.algorithms.algorithm import Algorithm

from rllib_ext.algorithms.registry import ALGORITHMS, GAME, OFFLINE, build_config, entry_of, get_algorithm
from rllib_ext.app import plots

NAMES = ("Reciprocator", "SAW", "HIQL", "GCIVL", "GCIQL", "QRL", "CRL", "GCBC")


def test_a_fresh_interpreter_finds_every_algorithm_by_name():
    code = ("import rllib_ext; from ray.tune.registry import get_trainable_cls; "
            f"print([get_trainable_cls(n).__module__ for n in {NAMES!r}])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    modules = eval(out.stdout.strip().splitlines()[-1])
    assert modules == ["rllib_ext.algorithms.reciprocator.reciprocator"] + [
        f"rllib_ext.algorithms.gcrl.{name.lower()}" for name in NAMES[1:]]


def test_every_entry_names_its_kind_and_its_algorithm():
    assert {name: e.kind for name, e in ALGORITHMS.items()} == {
        "ppo": GAME, "reciprocator": GAME, "mfos": GAME, **{name.lower(): OFFLINE for name in NAMES[1:]}}
    for entry in ALGORITHMS.values():
        assert entry.kind == GAME or entry.build().algo_class is entry.algo_class
    assert get_algorithm("saw").default_budget("pointmaze-medium-navigate-v0", "small") == 20_000
    assert get_algorithm("reciprocator").default_budget("coin_game", "paper") == 1000
    assert get_algorithm("mfos").default_budget("ipd_analytic", "paper") == 1024
    with pytest.raises(ValueError, match="unknown algorithm 'iql'; known algorithms: ppo, reciprocator"):
        get_algorithm("iql")


def test_tuner_runs_the_reciprocator_by_name(tmp_path, ray_session):
    config = build_config("reciprocator", "ipd", ["reciprocator", "naive"], "small", ["num_envs_per_env_runner=16"], 0)
    tuner = tune.Tuner("Reciprocator", param_space=config,
                       run_config=tune.RunConfig(stop={"training_iteration": 1}, storage_path=str(tmp_path),
                                                 name="by-name", verbose=0,
                                                 checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=True)))
    [result] = tuner.fit()
    assert result.error is None and result.metrics["training_iteration"] == 1
    assert 0.0 <= result.metrics["env_runners"]["game"]["player_1"]["cooperation_rate"] <= 1.0
    restored = Algorithm.from_checkpoint(result.checkpoint.path)
    assert entry_of(restored) is get_algorithm("reciprocator") and restored.iteration == 1
    restored.stop()


def _rows(n_evaluations, with_value):
    rows = []
    for i in range(1, 4):
        row = {"training_iteration": i, "steps": 100 * i, "learner/actor_loss": 1.0 / i}
        if with_value:
            row.update({"learner/value_loss": 2.0 / i, "learner/value_mean": -5.0 * i})
        if i > 3 - n_evaluations:
            row.update({"success": 0.1 * i, **{f"task_{t}/success": 0.05 * i * t for t in range(1, 6)}})
        rows.append(row)
    return rows


@pytest.mark.parametrize("n_evaluations, with_value, panels", [(1, True, 3), (3, True, 3), (1, False, 2)])
def test_offline_plot_shows_losses_values_and_success(tmp_path, n_evaluations, with_value, panels):
    from PIL import Image

    target = plots.plot_offline(_rows(n_evaluations, with_value), "test", tmp_path / "plot.png")
    width, _ = Image.open(target).size
    assert width == 5 * panels * 110  # one 5-inch panel each: losses, [value estimate,] success
