"""Two naive PPO learners on the Iterated Prisoner's Dilemma end in mutual defection."""

import json

import pytest

from rllib_ext.cli import main


@pytest.mark.parametrize("seed", [0, 1])
def test_naive_learners_defect(tmp_path, ray_session, seed):
    # small preset: 256 games x 32 steps per iteration. Measured (seeds 0, 1): both players'
    # cooperation falls from ~0.5 to 0.02-0.06 by iteration 40 (0.1 crossed near iteration 25).
    out = tmp_path / f"seed{seed}"
    assert main(["train", "ppo", "--env", "ipd", "--iterations", "40", "--seed", str(seed), "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    for player in ("player_0", "player_1"):
        assert result[f"{player}/cooperation_rate"] < 0.1
        assert result[f"{player}/reward_per_step"] < -1.8  # mutual defection pays -2 per step
