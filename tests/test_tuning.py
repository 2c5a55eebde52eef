"""Tune + Optuna searches: real trials of both algorithms, warm starts, resume, bad input."""

import csv
import json
import math
import re
import signal
import subprocess
import sys
import time

import pytest
from ray import tune

from rllib_ext.algorithms.registry import build_config
from rllib_ext.app.cli import main
from rllib_ext.algorithms.gcrl import SAWConfig
from rllib_ext.algorithms.registry import get_algorithm
from saw_data import DATASET, TINY, write_dataset
from tuning.search import check_search, preset_point, run_search
from tuning.spaces import SPACES, load_space

IPD_METRIC = "env_runners/game/player_1/cooperation_rate"


def small_ipd(algo="reciprocator", agents=("reciprocator", "naive")):
    return build_config(algo, "ipd", list(agents), "small", ["num_envs_per_env_runner=32"], 0)


def read_trials(path):
    with open(path / "trials.csv") as f:
        return list(csv.DictReader(f))


def test_reciprocator_search_honours_the_warm_start_and_writes_the_best(tmp_path, ray_session):
    space = {"lr": tune.loguniform(1e-3, 2e-2), "reciprocal_reward_weight": tune.uniform(0.5, 8.0)}
    warm = {"lr": 0.005, "reciprocal_reward_weight": 5.0}
    report = run_search(small_ipd(), space, metric=IPD_METRIC, name="ipd", num_samples=3, iterations=2,
                        storage_path=str(tmp_path), points_to_evaluate=[warm], max_concurrent_trials=2)
    assert report.finished == 3
    rows = read_trials(tmp_path / "ipd")
    assert len(rows) == 3 and all(int(r["iterations"]) >= 1 and not r["error"] for r in rows)
    values = [float(r[IPD_METRIC]) for r in rows]
    assert all(0.0 <= v <= 1.0 for v in values)
    params = [(float(r["lr"]), float(r["reciprocal_reward_weight"])) for r in rows]
    assert (0.005, 5.0) in params  # the warm start ran as given
    assert all(1e-3 <= lr <= 2e-2 and 0.5 <= w <= 8.0 for lr, w in params)
    assert len(set(params)) == 3  # Optuna proposed new points after it
    best = json.loads((tmp_path / "ipd" / "best_config.json").read_text())
    assert best["value"] == max(values) and best["metric"] == IPD_METRIC and best["mode"] == "max"
    assert set(best["params"]) == set(space) and len(best["set"]) == 2
    assert (tmp_path / "ipd" / "search.png").stat().st_size > 0


def test_saw_search_reports_evaluation_success(tmp_path, ray_session):
    data = write_dataset(tmp_path / f"{DATASET}.npz", [60, 41, 80, 55] * 3)
    config = (SAWConfig().training(dataset_path=data, **TINY, eval_num_workers=1)
              .evaluation(evaluation_interval=1, evaluation_duration=1))
    space = {"awr_alpha": tune.loguniform(0.3, 10.0), "subgoal_steps": tune.choice([10, 25])}
    report = run_search(config, space, metric="evaluation/success", name="saw", num_samples=2, iterations=1,
                        storage_path=str(tmp_path))
    rows = read_trials(tmp_path / "saw")
    assert report.finished == 2 and len(rows) == 2
    assert all(0.0 <= float(r["evaluation/success"]) <= 1.0 for r in rows)
    assert {int(r["subgoal_steps"]) for r in rows} <= {10, 25}
    assert json.loads((tmp_path / "saw" / "best_config.json").read_text())["metric"] == "evaluation/success"


def test_interrupted_search_resumes_and_completes(tmp_path):
    argv = [sys.executable, "-m", "rllib_ext.app.cli", "tune", "ppo", "--env", "ipd", "--set", "num_envs_per_env_runner=32",
            "--samples", "2", "--iterations", "1", "--max-concurrent", "1", "--storage", str(tmp_path), "--name", "s"]
    log = tmp_path / "first.log"
    with open(log, "w") as out:
        first = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 300
        while not re.search(r"\[tune\] \S+ done", log.read_text()) and first.poll() is None and time.time() < deadline:
            time.sleep(0.5)
        first.send_signal(signal.SIGINT)  # Ctrl-C after the first trial
        assert first.wait(timeout=120) == 130, log.read_text()[-3000:]
    text = log.read_text()
    # counted as Tune's callbacks saw trials complete, not as Tune marks the one the interruption cut off
    finished = int(re.search(r"search interrupted with (\d) of 2 trials finished", text).group(1))
    assert finished == len(re.findall(r"\[tune\] \S+ done", text)) < 2, text[-3000:]
    second = subprocess.run([*argv, "--resume"], capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    rows = read_trials(tmp_path / "s")
    assert len(rows) == 2 and all(int(r["iterations"]) == 1 for r in rows), rows
    assert all(math.isfinite(float(r["env_runners/episode_return_mean"])) for r in rows)


def test_every_default_space_is_valid_for_its_algorithm(tmp_path):
    data = write_dataset(tmp_path / f"{DATASET}.npz", [120, 101])  # longer than every k in the spaces
    for algo, space in SPACES.items():
        if algo in ("ppo", "reciprocator"):
            config = small_ipd(algo, ("naive", "naive") if algo == "ppo" else ("reciprocator", "naive"))
        elif algo == "mfos":
            config = build_config(algo, "ipd_analytic", None, "small")
        else:
            config = get_algorithm(algo).build().training(dataset_path=data).preset("small")
        check_search(config, space, [preset_point(config, space)])
        assert preset_point(config, space), algo  # the preset's values lie inside the default space


@pytest.mark.parametrize("space, points, message", [
    ({}, [], "the search space is empty"),
    ({"lrr": tune.uniform(0.1, 0.2)}, [], "unknown setting 'lrr' (did you mean 'lr'?)"),
    ({"lr": tune.uniform(-0.1, 0.1)}, [], "search-space key 'lr': value -0.1 is invalid"),
    ({"lr": 0.01}, [], "expected a Tune domain"),
    ({"reciprocal_reward_type": tune.choice(["petty_payoff", "spite"])}, [], "unknown 'spite'"),
    ({"env.grid": tune.choice([3, 4])}, [], "'env.grid'"),
    ({"lr": tune.uniform(0.001, 0.01)}, [{"gamma": 0.9}], "keys outside the search space: ['gamma']"),
])
def test_bad_spaces_are_refused(space, points, message):
    with pytest.raises(ValueError) as e:
        check_search(small_ipd(), space, points)
    assert message in str(e.value)


def test_cli_refuses_bad_search_input_before_ray_starts(tmp_path, no_ray_start, capsys):
    space_file = tmp_path / "space.py"
    space_file.write_text("from ray import tune\nSPACE = {'lrr': tune.uniform(0.1, 0.2)}\n")
    base = ["tune", "reciprocator", "--env", "ipd", "--storage", str(tmp_path)]
    assert main([*base, "--space", str(space_file)]) == 2
    assert "unknown setting 'lrr'" in capsys.readouterr().err
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("keep me")
    assert main([*base, "--name", "taken"]) == 2
    assert "pass --resume" in capsys.readouterr().err and (tmp_path / "taken" / "x").read_text() == "keep me"
    assert main([*base, "--name", "nothing", "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert main([*base, "--samples", "0"]) == 2
    assert main([*base, "--mode", "best"]) == 2
    assert "mode must be 'max' or 'min'" in capsys.readouterr().err


def test_space_file_with_warm_start_points(tmp_path):
    path = tmp_path / "space.py"
    path.write_text("from ray import tune\nSPACE = {'lr': tune.loguniform(1e-3, 1e-2)}\n"
                    "POINTS_TO_EVALUATE = [{'lr': 0.005}]\n")
    space, points = load_space(str(path))
    assert list(space) == ["lr"] and points == [{"lr": 0.005}]
    path.write_text("SPACE = [1, 2]\n")
    with pytest.raises(ValueError, match="SPACE in .* must be a dict"):
        load_space(str(path))
