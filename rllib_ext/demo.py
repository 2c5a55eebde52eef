"""``make demo``: independent naive PPO learners on the Iterated Prisoner's Dilemma.

Trains two RLlib PPO learners (one policy per player, 256 games x 32 steps per iteration)
and shows them sliding into mutual defection, the dilemma that Reciprocators address.
Ends with a results table and the path of the plot. About a minute on 2 CPUs.
"""

import argparse
import time
from pathlib import Path

from rllib_ext.algorithms import build_config
from rllib_ext.training import results_table, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="demo folder (default runs/demo-TIME); must be new or empty")
    parser.add_argument("--iterations", type=int, default=60)
    args = parser.parse_args()
    out = Path(args.out or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}")

    config = build_config("ppo", "ipd", ["naive", "naive"], "small", [], seed=0)
    result = train(config, args.iterations, out / "ipd-naive-vs-naive", checkpoint_every=0,
                   title="IPD: naive PPO vs naive PPO")
    print("\nIterated Prisoner's Dilemma, naive PPO vs naive PPO, final iteration")
    print(results_table(result, ("cooperation_rate", "reward_per_step", "return")))
    print("(mutual cooperation pays -1 per step, mutual defection -2)")
    print(f"plot: {out / 'ipd-naive-vs-naive' / 'plot.png'}")


if __name__ == "__main__":
    main()
