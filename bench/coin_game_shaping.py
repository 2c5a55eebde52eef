"""Does a Reciprocator lift a naive learner's own-coin rate? Coin Game run folders side by side.

    python bench/coin_game_shaping.py runs/coin64-rn-0 runs/coin64-nn-0 [--window 50] [--plot F.png] [--json F]

For each run folder (``rllib-ext train reciprocator --env coin_game ...``): every player's type (from the run's
``config.json``) and, over consecutive windows of ``--window`` iterations, the mean own-coin rate, coins and
return per episode, and the Reciprocator's reciprocal reward. The paper's claim (Zhou, Hong, Kao 2024, Coin Game
figure) is that a naive learner facing a Reciprocator ends with a higher own-coin rate than naive learners facing
each other; the naive-vs-naive players give that spread. ``--plot`` draws every player's own-coin rate (window
means) against the iteration.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from rllib_ext.app.run_folder import RunFolder

COLUMNS = ("own_coin_rate", "coins", "return", "reciprocal_reward")


def summarise(run: Path, window: int) -> dict:
    types = json.loads((run / "config.json").read_text())["agent_types"]
    rows = RunFolder.read_rows(run)
    windows = []
    for start in range(0, len(rows), window):
        chunk = rows[start:start + window]
        entry = {"iterations": [int(chunk[0]["training_iteration"]), int(chunk[-1]["training_iteration"])]}
        for p in range(len(types)):
            for c in COLUMNS:
                values = [r.get(f"player_{p}/{c}") for r in chunk]
                values = [v for v in values if isinstance(v, float) and np.isfinite(v)]
                if values:
                    entry[f"player_{p}/{c}"] = float(np.mean(values))
        windows.append(entry)
    return {"run": str(run), "players": types, "iterations": len(rows), "windows": windows}


def label(summary: dict, p: int) -> str:
    types = summary["players"]
    return f"{Path(summary['run']).name}: player {p} ({types[p]} vs {types[1 - p]})"


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
            cells = []
            for p in range(len(s["players"])):
                cell = (f"P(own) {w[f'player_{p}/own_coin_rate']:.3f} coins {w[f'player_{p}/coins']:5.1f} "
                        f"return {w[f'player_{p}/return']:6.1f}")
                if f"player_{p}/reciprocal_reward" in w:
                    cell += f" rr {w[f'player_{p}/reciprocal_reward']:6.2f}"
                cells.append(cell)
            print(f"  {w['iterations'][0]:4}-{w['iterations'][1]:4} | " + " | ".join(cells))
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
