"""``bench/offline_table.py``'s resume bookkeeping: which steps a stopped run has done, what its next command is, and
which folders it may delete. The official code itself is not run here (it needs JAX); its run folders are laid out
the way ``impls/main.py`` writes them (``OGBench/Debug/<run>/params_<epoch>.pkl`` and ``eval.csv``)."""

import argparse
import os
import sys

import pytest

sys.path.append(os.path.join(os.path.dirname(__file__), "..", "bench"))
import offline_table as table  # noqa: E402  (bench/ is not a package)

DATASET = "pointmaze-medium-navigate-v0"


@pytest.fixture
def impls(tmp_path):
    """An ``impls/`` folder with the two files the launcher reads: one ``hyperparameters.sh`` line and an agent
    config naming its hidden sizes."""
    folder = tmp_path / "impls"
    (folder / "agents").mkdir(parents=True)
    (folder / "hyperparameters.sh").write_text(
        f"python main.py --env_name={DATASET} --agent=agents/qrl.py --agent.alpha=0.003\n")
    (folder / "agents" / "qrl.py").write_text("value_hidden_dims=(512, 512, 512),\nactor_hidden_dims=(512, 512, 512),\n")
    return str(folder)


def args_for(impls, tmp_path, eval_every=10000):
    return argparse.Namespace(official=impls, official_python="python", steps=30000, eval_every=eval_every,
                              eval_episodes=20, save_every=2000, root=str(tmp_path / "root"))


def part(out, done, *files):
    """A part of an official run that started after ``done`` steps, with the given files in its run folder."""
    run = os.path.join(out, f"from-{done}", "OGBench", "Debug", "sd000_run")
    os.makedirs(run, exist_ok=True)
    for name in files:
        open(os.path.join(run, name), "w").close()
    return run


def eval_csv(run, *steps):
    with open(os.path.join(run, "eval.csv"), "w") as f:
        f.write("step,evaluation/overall_success," + ",".join(f"evaluation/task{t}_success" for t in range(1, 6)) + "\n")
        for step in steps:
            f.write(f"{step},{step / 100000}," + ",".join(f"{t / 10}" for t in range(1, 6)) + "\n")


def flag(command, name):
    return [c.split("=", 1)[1] for c in command if c.startswith(f"--{name}=")]


def test_a_new_official_run_starts_from_zero(impls, tmp_path):
    out = str(tmp_path / "qrl-seed0")
    command = table.official_command(args_for(impls, tmp_path), DATASET, "qrl", 0, out)
    assert flag(command, "train_steps") == ["30000"] and flag(command, "eval_interval") == ["10000"]
    assert flag(command, "save_dir") == [os.path.join(out, "from-0")] and not flag(command, "restore_path")
    assert flag(command, "agent.alpha") == ["0.003"]
    assert flag(command, "agent.actor_hidden_dims") == flag(command, "agent.value_hidden_dims") == ["(256,256)"]


def test_a_stopped_official_run_resumes_from_its_last_saved_agent(impls, tmp_path):
    out = str(tmp_path / "qrl-seed0")
    first = part(out, 0, "params_2000.pkl", "params_4000.pkl", "params_6000.partial.pkl")  # stopped while saving 6k
    stale = part(out, 4000, "train.csv")  # an earlier resume that stopped before its first save
    command = table.official_command(args_for(impls, tmp_path), DATASET, "qrl", 0, out)
    assert flag(command, "restore_path") == [first] and flag(command, "restore_epoch") == ["4000"]
    assert flag(command, "train_steps") == ["26000"]
    assert flag(command, "eval_interval") == ["2000"]  # evaluations left at 10k, 20k, 30k: 6000, 16000, 26000 in
    assert not os.path.exists(os.path.dirname(os.path.dirname(os.path.dirname(stale))))  # the stale part: deleted
    assert os.path.exists(os.path.join(first, "params_4000.pkl"))  # the saved agents: kept


def test_a_part_of_a_part_counts_the_steps_before_it(impls, tmp_path):
    out = str(tmp_path / "qrl-seed0")
    part(out, 0, "params_2000.pkl")
    second = part(out, 2000, "params_2000.pkl", "params_4000.pkl")
    assert table.official_saved(out, 30000) == (6000, second, 4000)
    # an agent saved at the run's last step is no start for more training
    assert table.official_saved(out, 6000) == (4000, second, 2000)
    command = table.official_command(args_for(impls, tmp_path, eval_every=30000), DATASET, "qrl", 0, out)
    assert flag(command, "save_dir") == [os.path.join(out, "from-6000")] and flag(command, "eval_interval") == ["24000"]
    part(out, 6000, "params_18000.pkl")  # 24k done: of the evaluations at 10k, 20k and 30k only the last is left
    command = table.official_command(args_for(impls, tmp_path), DATASET, "qrl", 0, out)
    assert flag(command, "train_steps") == flag(command, "eval_interval") == ["6000"]


def test_the_final_row_is_read_over_the_parts(tmp_path):
    out = str(tmp_path / "qrl-seed0")
    eval_csv(part(out, 0, "params_10000.pkl"), 10000)
    later = part(out, 10000)
    eval_csv(later, 10000)
    assert table.official_final(out, 30000) is None  # 20k steps done
    eval_csv(later, 10000, 20000)
    success, tasks = table.official_final(out, 30000)
    assert success == pytest.approx(0.2) and tasks == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])


def test_a_run_made_in_one_go_still_reads(tmp_path):
    out = str(tmp_path / "saw-seed0")
    run = os.path.join(out, "OGBench", "Debug", "sd000_run")
    os.makedirs(run)
    eval_csv(run, 10000, 20000, 30000)
    assert table.official_final(out, 30000)[0] == pytest.approx(0.3)
    assert table.official_saved(out, 30000) == (0, None, None)


def test_ours_resume_from_a_checkpoint_or_start_clean(impls, tmp_path):
    args = args_for(impls, tmp_path)
    out = tmp_path / "ours" / "qrl-seed0"
    (out / "checkpoints" / "iter_000004").mkdir(parents=True)
    assert table.ours_command(args, DATASET, "qrl", 0, str(out))[-2:] == ["resume", str(out)]
    started = tmp_path / "ours" / "gcbc-seed0"
    (started / "checkpoints").mkdir(parents=True)
    (started / "progress.csv").write_text("iteration\n")
    command = table.ours_command(args, DATASET, "gcbc", 0, str(started))
    assert "train" in command and not started.exists()  # no checkpoint: nothing to keep
    (out / "progress.csv").write_text("steps,success," + ",".join(f"task_{t}/success" for t in range(1, 6))
                                      + "\n29000,,,,,,\n30000,0.5,1,0,1,0,0.5\n")
    assert table.ours_final(str(out), 30000) == (0.5, [1, 0, 1, 0, 0.5])
    assert table.ours_final(str(out), 60000) is None
