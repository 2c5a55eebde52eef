"""The CLI: bad input is refused before Ray starts; train and eval write complete run folders."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from rllib_ext.app.cli import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "ppo", "--env", "chess"], "unknown env 'chess'"),
        (["train", "dqn_x", "--env", "ipd"], "unknown algorithm 'dqn_x'"),
        (["train", "ppo", "--env", "ipd", "--preset", "huge"], "unknown preset 'huge'"),
        (["train", "ppo", "--env", "ipd", "--set", "lrr=0.1"], "unknown setting 'lrr' (did you mean 'lr'?)"),
        (["train", "ppo", "--env", "ipd", "--set", "gamma=1.5"], "bad value for 'gamma'"),
        (["train", "ppo", "--env", "ipd", "--set", "lr=0"], "bad value for 'lr'"),
        (["train", "ppo", "--env", "ipd", "--set", "num_epochs=ten"], "bad value for 'num_epochs'"),
        (["train", "ppo", "--env", "ipd", "--set", "lr"], "--set expects key=value"),
        (["train", "ppo", "--env", "ipd", "--set", "train_batch_size_per_learner=0"],
         "bad value for 'train_batch_size_per_learner'"),
        (["train", "ppo", "--env", "coin_game", "--set", "env.grid=4"], "unknown setting 'env.grid'"),
        (["train", "ppo", "--env", "coin_game", "--set", "env.grid_size=1"], "grid_size"),
        (["train", "ppo", "--env", "ipd", "--agents", "naive"], "--agents lists 1 type(s)"),
        (["train", "ppo", "--env", "coin_game", "--set", "env.num_players=3", "--agents", "naive,naive"],
         "--agents lists 2 type(s)"),
        (["train", "ppo", "--env", "ipd", "--agents", "naive,tourist"], "unknown agent type 'tourist'"),
        (["train", "ppo", "--env", "ipd", "--agents", "random,random"], "at least one player must be a learner"),
        (["train", "ppo", "--env", "coin_game", "--agents", "naive,always_defect"], "are IPD strategies"),
        (["train", "ppo", "--env", "ipd", "--iterations", "0"], "--iterations must be >= 1"),
        (["train", "reciprocator", "--env", "ipd", "--agents", "reciprocator,tft"], "unknown type(s) ['tft']"),
        (["train", "reciprocator", "--env", "coin_game", "--agents", "reciprocator,tit_for_tat"],
         "are IPD strategies"),
        (["train", "reciprocator", "--env", "ipd", "--agents", "reciprocator"], "agent_types lists 1 players"),
        (["train", "reciprocator", "--env", "ipd", "--set", "ppo_update='adam'"], "ppo_update: unknown 'adam'"),
        (["train", "reciprocator", "--env", "ipd", "--set", "reciprocal_reward_weight=-2.0"],
         "reciprocal_reward_weight"),
        (["train", "reciprocator", "--env", "ipd", "--set", "reciprocal_reward_type='spite'"],
         "reciprocal_reward_type: unknown 'spite'"),
        (["train", "reciprocator", "--env", "coin_game", "--set", "estimator_config.bogus=1"],
         "estimator_config: unknown key(s) ['bogus'] for the reward_future estimator"),
        (["train", "reciprocator", "--env", "ipd", "--set", "lr.x=1"], "'lr' is not a dict setting"),
        (["train", "reciprocator", "--env", "ipd", "--set", "influence_estimator='transition'"],
         "does not fit 'ipd'"),
        (["resume", "/nonexistent/run"], "is not a run folder to resume: it has no run.json"),
        (["resume", "/nonexistent/run", "--iterations", "0"], "--iterations must be >= 1"),
        (["eval", "/nonexistent/checkpoint"], "not an RLlib checkpoint"),
        (["eval", "/nonexistent/checkpoint", "--episodes", "0"], "--episodes must be >= 1"),
    ],
)
def test_bad_input_is_refused_before_ray_starts(argv, message, no_ray_start, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err, err


def test_existing_run_folder_is_never_overwritten(tmp_path, no_ray_start, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    assert main(["train", "ppo", "--env", "ipd", "--out", str(out)]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_train_then_eval_writes_run_folders(tmp_path, ray_session, capsys):
    out = tmp_path / "ipd_run"
    argv = ["train", "ppo", "--env", "ipd", "--iterations", "2", "--out", str(out),
            "--set", "num_envs_per_env_runner=64", "--set", "num_epochs=2", "--seed", "3"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "cooperation_rate" in printed and "player_1" in printed

    assert {p.name for p in out.iterdir()} >= {"config.json", "progress.csv", "checkpoints", "plot.png", "result.json"}
    config = json.loads((out / "config.json").read_text())
    assert config["num_envs_per_env_runner"] == 64 and config["num_epochs"] == 2 and config["seed"] == 3
    assert config["_train_batch_size_per_learner"] == 64 * 32  # re-derived from the number of games
    rows = list(csv.DictReader((out / "progress.csv").open()))
    assert [int(float(r["training_iteration"])) for r in rows] == [1, 2]
    result = json.loads((out / "result.json").read_text())
    assert result["env_steps"] == 2 * 64 * 32
    for player in ("player_0", "player_1"):
        assert 0.0 <= result[f"{player}/cooperation_rate"] <= 1.0
        assert -3.0 <= result[f"{player}/reward_per_step"] <= 0.0
        assert result[f"{player}/return"] == pytest.approx(32 * result[f"{player}/reward_per_step"])
    assert (out / "plot.png").read_bytes()[:4] == b"\x89PNG"

    eval_out = tmp_path / "eval"
    assert main(["eval", str(out / "checkpoints" / "final"), "--episodes", "64", "--out", str(eval_out)]) == 0
    evaluated = json.loads((eval_out / "result.json").read_text())
    assert evaluated["episodes"] == 64 and evaluated["explore"] is False
    for player in ("player_0", "player_1"):
        # greedy play: IPD is deterministic, so all 64 games follow one trajectory of 32 moves
        moves_cooperated = evaluated[f"{player}/cooperation_rate"] * 32
        assert moves_cooperated == pytest.approx(round(moves_cooperated), abs=1e-9)


def test_interrupted_run_keeps_its_checkpoint_and_resumes(tmp_path, ray_session, capsys):
    """SIGINT (Ctrl-C, or `timeout -s INT`) stops training after the current iteration with a `final`
    checkpoint and result.json; `resume` continues the same folder, counters and estimator included."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "rllib_ext.app.cli", "train", "reciprocator", "--env", "ipd",
           "--agents", "reciprocator,naive", "--iterations", "1000", "--out", str(out),
           "--set", "num_envs_per_env_runner=64", "--checkpoint-every", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    for line in proc.stdout:
        if line.startswith("iter    3/1000"):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.2)  # a second one at once, as `timeout -s INT` sends (to the child, then its group)
            proc.send_signal(signal.SIGINT)
            break
    tail = proc.stdout.read()
    assert proc.wait(timeout=120) == 130, tail
    stopped = json.loads((out / "result.json").read_text())
    done = int(stopped["training_iteration"])
    assert stopped["stopped_early"] is True and 3 <= done < 1000
    assert f"stopped at iteration {done} of 1000; continue with: rllib-ext resume {out}" in tail
    assert (out / "checkpoints" / "final" / "rllib_checkpoint.json").exists()

    assert main(["resume", str(out), "--iterations", str(done + 2)]) == 0
    assert f"resuming {out} from final (iteration {done})" in capsys.readouterr().out
    rows = list(csv.DictReader((out / "progress.csv").open()))
    assert [int(r["training_iteration"]) for r in rows] == list(range(1, done + 3))
    assert [float(r["env_steps"]) for r in rows] == [64 * 32 * i for i in range(1, done + 3)]
    result = json.loads((out / "result.json").read_text())
    assert result["training_iteration"] == done + 2 and "stopped_early" not in result
    assert (out / "checkpoints" / f"iter_{done:06d}").exists()  # the checkpoint resumed from, kept
    assert json.loads((out / "run.json").read_text())["iterations"] == done + 2
    from ray.rllib.algorithms.algorithm import Algorithm

    restored = Algorithm.from_checkpoint(str(out / "checkpoints" / "final"))
    try:  # the reward-influence connector's counters (weight schedule, refit schedule) went on too
        state = restored.get_state()["influence_estimator"]
        assert restored.iteration == state["num_updates"] == state["episodes_seen"] == done + 2
    finally:
        restored.stop()
    assert main(["resume", str(out), "--iterations", str(done + 2)]) == 2
    assert f"has {done + 2} iterations already" in capsys.readouterr().err


def test_coin_game_with_a_fixed_random_player(tmp_path, ray_session):
    out = tmp_path / "coin_run"
    argv = ["train", "ppo", "--env", "coin_game", "--agents", "naive,random", "--iterations", "1",
            "--out", str(out), "--set", "num_envs_per_env_runner=256", "--set", "num_epochs=1"]
    assert main(argv) == 0
    result = json.loads((out / "result.json").read_text())
    # the random player collects coins at the random-play level (about 6, half its own)
    assert result["player_1/coins"] == pytest.approx(6.0, abs=0.6)
    assert result["player_1/own_coin_rate"] == pytest.approx(0.5, abs=0.06)
    assert "learner/player_0/policy_loss" in result and "learner/player_1/policy_loss" not in result


def test_datagen_writes_a_loadable_dataset_and_never_overwrites(tmp_path, capsys):
    from envs.ogbench.dataset import load_dataset

    out = tmp_path / "pointmaze-medium-navigate-v0.npz"
    argv = ["datagen", "pointmaze-medium-navigate-v0", "--episodes", "3", "--episode-length", "40",
            "--out", str(out), "--workers", "1"]
    assert main(argv) == 0
    data = load_dataset(out)
    assert data["observations"].shape == (120, 2) and data["terminals"].sum() == 3
    assert (tmp_path / "pointmaze-medium-navigate-v0-val.npz").exists()
    before = out.read_bytes()
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["datagen", "humanoidmaze-giant-navigate-v0", "--out", str(tmp_path / "h.npz")]) == 2
    assert "cannot be generated locally" in capsys.readouterr().err


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without a GPU")
def test_start_up_error_leaves_no_run_folder(tmp_path, ray_session, capsys):
    """A GPU learner on a machine without a GPU fails in the algorithm's setup: the run folder is not made,
    so the same command works once the setting is fixed."""
    from saw_data import DATASET, write_dataset

    data = write_dataset(tmp_path / f"{DATASET}.npz", [60, 41, 80])
    out = tmp_path / "run"
    argv = ["train", "saw", "--dataset", DATASET, "--data", data, "--steps", "4", "--eval-episodes", "1",
            "--set", "num_steps_per_iteration=4", "--set", "train_batch_size_per_learner=16", "--out", str(out)]
    assert main([*argv, "--set", "num_gpus_per_learner=1"]) == 2
    assert "finds no CUDA GPU" in capsys.readouterr().err and not out.exists()
    assert main(argv) == 0


def test_checkpoint_of_a_gpu_learner_evaluates_without_a_gpu(tmp_path, ray_session, capsys):
    """Trained on a GPU learner, evaluated on a CPU machine: the checkpoint's config asks for a GPU
    (written as a GPU run writes it) and eval restores it with CPU learners."""
    import pickle

    from ray.rllib.algorithms.algorithm import Algorithm
    from saw_data import DATASET, write_dataset

    data = write_dataset(tmp_path / f"{DATASET}.npz", [60, 41, 80])
    out = tmp_path / "run"
    assert main(["train", "gcbc", "--dataset", DATASET, "--data", data, "--steps", "4", "--eval-episodes", "1",
                 "--set", "num_steps_per_iteration=4", "--set", "train_batch_size_per_learner=16",
                 "--out", str(out)]) == 0
    checkpoint = out / "checkpoints" / "final"
    ctor_file = checkpoint / Algorithm.CLASS_AND_CTOR_ARGS_FILE_NAME
    ctor = pickle.loads(ctor_file.read_bytes())
    ctor["ctor_args_and_kwargs"][0][0]["num_gpus_per_learner"] = 1
    ctor_file.write_bytes(pickle.dumps(ctor))
    with pytest.raises(ValueError, match="finds no CUDA GPU"):
        Algorithm.from_checkpoint(str(checkpoint))  # what RLlib alone does with it here
    capsys.readouterr()
    assert main(["eval", str(checkpoint), "--episodes", "1", "--out", str(tmp_path / "eval")]) == 0
    assert "its learners run on the CPU" in capsys.readouterr().out
    result = json.loads((tmp_path / "eval" / "result.json").read_text())
    assert result["episodes"] == 5 and 0.0 <= result["success"] <= 1.0
