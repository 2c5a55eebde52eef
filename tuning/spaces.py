"""Search spaces for every algorithm, as plain Python data: ``{config key: Tune domain}``.

Keys are the same as ``rllib-ext train --set`` keys: an attribute of the algorithm's
``AlgorithmConfig`` (``lr``, ``reciprocal_reward_weight``), ``env.<name>`` for a game parameter,
or ``<dict attribute>.<name>`` for an entry of a dict setting (``estimator_config.lr``).
Values are Ray Tune search-space objects (``tune.loguniform``, ``tune.choice``, ...), which
``OptunaSearch`` turns into Optuna distributions. Import one and edit it, or write your own in a
file and pass it with ``rllib-ext tune --space FILE`` (the file defines ``SPACE`` and, optionally,
``POINTS_TO_EVALUATE``, a list of ``{key: value}`` warm-start points evaluated first).
"""

import runpy
from pathlib import Path
from typing import Any, Dict, List, Tuple

from ray import tune

RECIPROCATOR: Dict[str, Any] = {
    "reciprocal_reward_weight": tune.loguniform(0.3, 10.0),
    "lr": tune.loguniform(1e-3, 2e-2),
    "entropy_coeff": tune.uniform(0.0, 0.05),
    "clip_param": tune.uniform(0.05, 0.3),
    # Refit period of the learned estimators (Coin Game); the IPD closed form ignores it.
    "estimator_fit_period": tune.choice([1, 2, 4]),
}

PPO: Dict[str, Any] = {
    "lr": tune.loguniform(1e-3, 2e-2),
    "entropy_coeff": tune.uniform(0.0, 0.05),
    "clip_param": tune.uniform(0.05, 0.3),
}

SAW: Dict[str, Any] = {
    "awr_alpha": tune.loguniform(0.3, 10.0),  # alpha: flat one-step AWR temperature
    "kl_alpha": tune.loguniform(0.1, 10.0),  # beta: bootstrapping importance-weight temperature
    "subgoal_steps": tune.choice([10, 25, 50]),  # k
    "expectile": tune.uniform(0.6, 0.95),
    "lr": tune.loguniform(1e-4, 1e-3),
}

GCIVL: Dict[str, Any] = {
    "awr_alpha": tune.loguniform(1.0, 30.0),
    "expectile": tune.uniform(0.6, 0.95),
    "lr": tune.loguniform(1e-4, 1e-3),
}

GCBC: Dict[str, Any] = {"lr": tune.loguniform(1e-4, 1e-3)}

SPACES: Dict[str, Dict[str, Any]] = {
    "reciprocator": RECIPROCATOR, "ppo": PPO, "saw": SAW, "gcivl": GCIVL, "gcbc": GCBC,
}  # fmt: skip


def default_space(algo: str) -> Dict[str, Any]:
    if algo not in SPACES:
        raise ValueError(f"no search space for {algo!r}; known: {', '.join(SPACES)}")
    return dict(SPACES[algo])


def load_space(path: str) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """``SPACE`` and ``POINTS_TO_EVALUATE`` (default ``[]``) of a Python file."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no search-space file {path}")
    try:
        scope = runpy.run_path(str(path))
    except Exception as e:  # the user's file: report any error in it as bad input
        raise ValueError(f"search-space file {path} failed to run: {type(e).__name__}: {e}") from None
    if "SPACE" not in scope:
        raise ValueError(f"search-space file {path} defines no SPACE = {{key: tune domain, ...}}")
    space, points = scope["SPACE"], scope.get("POINTS_TO_EVALUATE", [])
    if not isinstance(space, dict):
        raise ValueError(f"SPACE in {path} must be a dict, got {type(space).__name__}")
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise ValueError(f"POINTS_TO_EVALUATE in {path} must be a list of dicts")
    return dict(space), list(points)
