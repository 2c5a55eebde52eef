"""``make demo``: a Reciprocator shapes a naive learner into cooperating on the Prisoner's Dilemma.

Trains, on the Iterated Prisoner's Dilemma (256 games x 32 steps per iteration), a Reciprocator
against a naive PPO learner, and beside it two naive learners against each other (who slide into
mutual defection). Ends with a results table and a plot of both players' cooperation over
training for both pairings. A few minutes on 2 CPUs.
"""

import argparse
import time
from pathlib import Path

from rllib_ext.algorithms import build_config
from rllib_ext.run_folder import RunFolder
from rllib_ext.training import results_table, train

PAIRINGS = (("reciprocator", "naive"), ("naive", "naive"))
METRICS = ("cooperation_rate", "reward_per_step", "return")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="demo folder (default runs/demo-TIME); must be new or empty")
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}")
    RunFolder(out)

    runs = {}
    for agents in PAIRINGS:
        name = "-vs-".join(agents)
        config = build_config("reciprocator", "ipd", list(agents), "small", [], seed=args.seed)
        print(f"\n== IPD: {name} ==")
        runs[name] = (train(config, args.iterations, out / name, checkpoint_every=0, title=f"IPD: {name}"),
                      RunFolder.read_rows(out / name))

    print(f"\nIterated Prisoner's Dilemma after {args.iterations} iterations (seed {args.seed})")
    for name, (result, _) in runs.items():
        print(f"\n{name}:")
        print(results_table(result, METRICS))
    print("\n(mutual cooperation pays -1 per step, mutual defection -2)")
    plot = plot_cooperation({name: rows for name, (_, rows) in runs.items()}, out / "cooperation.png")
    print(f"plot: {plot}")


def plot_cooperation(rows_by_run, target: Path) -> Path:
    """One panel per pairing: both players' cooperation rate against the training iteration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows_by_run), figsize=(5.5 * len(rows_by_run), 3.8), squeeze=False, sharey=True)
    for ax, (name, rows) in zip(axes[0], rows_by_run.items()):
        x = [r["training_iteration"] for r in rows]
        kinds = name.split("-vs-")
        for i, kind in enumerate(kinds):
            ax.plot(x, [r[f"player_{i}/cooperation_rate"] for r in rows], label=f"player_{i} ({kind})")
        ax.set_title(name.replace("-vs-", " vs "))
        ax.set_xlabel("training iteration")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0][0].set_ylabel("P(cooperate)")
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target


if __name__ == "__main__":
    main()
