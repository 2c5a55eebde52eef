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

MFOS: Dict[str, Any] = {
    "lr": tune.loguniform(5e-4, 1e-2),
    "num_epochs": tune.choice([4, 8, 16]),  # full-batch Adam steps per meta-episode
    "entropy_coeff": tune.uniform(0.0, 0.05),
    "clip_param": tune.uniform(0.1, 0.3),
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

# The OGBench baselines: what OGBench's paper tuned per method (the actor's temperature or BC weight; the value
# side is fixed per method there), plus the expectile and the learning rate.
HIQL: Dict[str, Any] = {
    "low_alpha": tune.loguniform(1.0, 10.0),  # low actor AWR temperature
    "high_alpha": tune.loguniform(1.0, 10.0),  # high actor AWR temperature
    "subgoal_steps": tune.choice([10, 25, 50, 100]),  # k
    "expectile": tune.uniform(0.6, 0.95),
    "lr": tune.loguniform(1e-4, 1e-3),
}

GCIQL: Dict[str, Any] = {
    "alpha": tune.loguniform(1e-3, 1.0),  # DDPG+BC weight of the BC term
    "expectile": tune.uniform(0.7, 0.95),
    "lr": tune.loguniform(1e-4, 1e-3),
}

QRL: Dict[str, Any] = {
    "alpha": tune.loguniform(1e-4, 0.3),  # DDPG+BC weight of the BC term
    "eps": tune.loguniform(0.01, 0.2),  # the one-step distance constraint
    "lr": tune.loguniform(1e-4, 1e-3),
}

CRL: Dict[str, Any] = {
    "alpha": tune.loguniform(3e-3, 3.0),  # DDPG+BC weight of the BC term
    "lr": tune.loguniform(1e-4, 1e-3),
}

SPACES: Dict[str, Dict[str, Any]] = {
    "reciprocator": RECIPROCATOR, "ppo": PPO, "mfos": MFOS, "saw": SAW, "hiql": HIQL, "gcivl": GCIVL, "gciql": GCIQL,
    "qrl": QRL, "crl": CRL, "gcbc": GCBC,
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
