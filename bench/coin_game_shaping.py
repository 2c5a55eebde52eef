"""Does a Reciprocator lift a naive learner's own-coin rate? Coin Game run folders side by side.

    python bench/coin_game_shaping.py runs/coin64-rn-0 runs/coin64-nn-0 [--window 50] [--plot F.png] [--json F]

For each run folder (``rllib-ext train reciprocator --env coin_game ...``): every player's type (from the run's
``config.json``) and, over consecutive windows of ``--window`` iterations, the mean own-coin rate, coins and
return per episode and policy entropy (nats; ln 5 = 1.61 is uniform play); for a Reciprocator also its reciprocal
reward per episode, its influence balance at episode ends and the influence its opponents' actions had on its
return per step, and the influence estimator's last-epoch losses (reward and future-return heads) where the
estimator was refit. The paper's claim (Zhou, Hong, Kao 2024, Coin Game
figure) is that a naive learner facing a Reciprocator ends with a higher own-coin rate than naive learners facing
each other; the naive-vs-naive players give that spread. ``--plot`` draws every player's own-coin rate (window
means) against the iteration.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from rllib_ext.app.run_folder import RunFolder

PLAYER_COLUMNS = {  # printed name: the run folder's column, {p} the player's index
    "P(own)": "player_{p}/own_coin_rate", "coins": "player_{p}/coins", "return": "player_{p}/return",
    "entropy": "learner/player_{p}/entropy", "rr": "player_{p}/reciprocal_reward", "balance": "player_{p}/balance",
    "influence": "player_{p}/influence_in"}
ESTIMATOR_COLUMNS = {"est reward loss": "estimator/reward_loss_last_epoch",
                     "est future loss": "estimator/future_loss_last_epoch"}


def _mean(chunk: list, column: str):
    values = [r.get(column) for r in chunk]
    values = [v for v in values if isinstance(v, float) and np.isfinite(v)]
    return float(np.mean(values)) if values else None


def summarise(run: Path, window: int) -> dict:
    types = json.loads((run / "config.json").read_text())["agent_types"]
    rows = RunFolder.read_rows(run)
    windows = []
    for start in range(0, len(rows), window):
        chunk = rows[start:start + window]
        entry = {"iterations": [int(chunk[0]["training_iteration"]), int(chunk[-1]["training_iteration"])]}
        columns = [c.format(p=p) for p in range(len(types)) for c in PLAYER_COLUMNS.values()]
        for column in [*columns, *ESTIMATOR_COLUMNS.values()]:
            value = _mean(chunk, column)
            if value is not None:
                entry[column] = value
        windows.append(entry)
    return {"run": str(run), "players": types, "iterations": len(rows), "windows": windows}


def label(summary: dict, p: int) -> str:
    types = summary["players"]
    others = " and ".join(t for q, t in enumerate(types) if q != p)
    return f"{Path(summary['run']).name}: player {p} ({types[p]} vs {others})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--window", type=int, default=50, help="iterations per mean")
    parser.add_argument("--plot", help="write a figure of the own-coin rates here")
    parser.add_argument("--json")
    args = parser.parse_args()
    summaries = [summarise(run, args.window) for run in args.runs]
    for s in summaries:
        print(f"{s['run']} ({' vs '.join(s['players'])}, {s['iterations']} iterations), means per {args.window}:")
        for w in s["windows"]:
            cells = [" ".join(f"{name} {w[column.format(p=p)]:.3g}" for name, column in PLAYER_COLUMNS.items()
                              if column.format(p=p) in w) for p in range(len(s["players"]))]
            cells += [" ".join(f"{name} {w[column]:.3g}" for name, column in ESTIMATOR_COLUMNS.items() if column in w)]
            print(f"  {w['iterations'][0]:4}-{w['iterations'][1]:4} | " + " | ".join(c for c in cells if c))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 4.5))
        for s in summaries:
            for p, kind in enumerate(s["players"]):
                x = [np.mean(w["iterations"]) for w in s["windows"]]
                y = [w[f"player_{p}/own_coin_rate"] for w in s["windows"]]
                ax.plot(x, y, marker="o", ms=3, ls="-" if kind == "naive" else "--", label=label(s, p))
        ax.axhline(0.5, color="grey", lw=0.8)
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"own-coin rate (mean of {args.window} iterations)")
        ax.set_title("Coin Game: own-coin rate per player")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"wrote {args.plot}")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(window=args.window, runs=summaries), indent=1) + "\n")


if __name__ == "__main__":
    main()
