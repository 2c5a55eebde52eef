"""``--set key=value`` overrides, checked against an AlgorithmConfig before any Ray work.

A key is an attribute of the algorithm's config (``lr``, ``gamma``,
``num_env_runners``, ...), ``env.<name>`` for a parameter of the game
(``env.grid_size``) or ``<dict attribute>.<name>`` for one entry of a dict setting
(``estimator_config.lr``). Values are Python literals (``0.01``, ``[64, 64]``, ``True``);
anything else is a string. Unknown keys, values of the wrong type and values out of
range raise a ValueError that names the key.
"""

import ast
import difflib
import inspect
import math
from typing import Any, Dict, Iterable, Optional, Set, Tuple

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

# (low, high, low_inclusive); None = unbounded.
RANGES: Dict[str, Tuple[Any, Any, bool]] = {
    "lr": (0.0, None, False),
    "gamma": (0.0, 1.0, True),
    "lambda_": (0.0, 1.0, True),
    "clip_param": (0.0, None, False),
    "vf_clip_param": (0.0, None, False),
    "entropy_coeff": (0.0, None, True),
    "vf_loss_coeff": (0.0, None, True),
    "kl_coeff": (0.0, None, True),
    "num_epochs": (1, None, True),
    "minibatch_size": (1, None, True),
    "train_batch_size_per_learner": (1, None, True),
    "num_env_runners": (0, None, True),
    "num_envs_per_env_runner": (1, None, True),
    "num_learners": (0, None, True),
    "num_gpus_per_learner": (0, None, True),
    "num_cpus_per_env_runner": (0, None, True),
}


def parse_assignment(text: str) -> Tuple[str, Any]:
    """``"key=value"`` -> ``(key, value)`` with the value read as a Python literal if it is one."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"--set expects key=value, got {text!r}")
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        value = raw.strip()
    return key, value


def env_overrides(assignments: Iterable[str], game_cls) -> Dict[str, Any]:
    """The game parameters set by ``env.<name>=value`` strings, checked by building the game once."""
    params = [p for p in inspect.signature(game_cls).parameters if p != "self"]
    env_config: Dict[str, Any] = {}
    for text in assignments:
        key, value = parse_assignment(text)
        name = key[len("env."):]
        if name not in params:
            raise ValueError(f"unknown setting {key!r}{_suggest(name, params, 'env.')}; game parameters: "
                             + ", ".join("env." + p for p in params))
        env_config[name] = value
    try:
        game_cls(**env_config)
    except (TypeError, ValueError) as e:
        raise ValueError(f"bad env setting: {e}") from None
    return env_config


def apply_overrides(config: AlgorithmConfig, assignments: Iterable[str]) -> Set[str]:
    """Apply ``key=value`` strings to attributes of ``config``; return the keys set."""
    changed: Set[str] = set()
    for text in assignments:
        key, value = parse_assignment(text)
        set_setting(config, key, value)
        changed.add(key)
    return changed


def split_setting(key: str) -> Tuple[str, Optional[str]]:
    """``(attribute, entry)`` of a setting key: ``lr`` -> ``("lr", None)``, ``env.grid_size`` ->
    ``("env_config", "grid_size")``, ``estimator_config.lr`` -> ``("estimator_config", "lr")``."""
    head, dot, name = key.partition(".")
    if not dot:
        return key, None
    return ("env_config" if head == "env" else head), name


def get_setting(config: AlgorithmConfig, key: str) -> Any:
    """The value of a setting key (see ``split_setting``); None if the config has no such setting."""
    attr, entry = split_setting(key)
    value = getattr(config, attr, None)
    return value if entry is None else (value or {}).get(entry)


def set_setting(config: AlgorithmConfig, key: str, value: Any) -> None:
    """Set one setting: an attribute (``lr``), a game parameter (``env.grid_size``) or an entry of
    a dict attribute (``estimator_config.lr``); unknown keys and bad values raise a ValueError."""
    attr, entry = split_setting(key)
    if entry is None:
        _set_config_key(config, key, value)
        return
    if not isinstance(getattr(config, attr, None), dict) or not entry:
        raise ValueError(f"unknown setting {key!r}: {attr!r} is not a dict setting of {type(config).__name__}")
    setattr(config, attr, {**getattr(config, attr), entry: value})


def _set_config_key(config: AlgorithmConfig, key: str, value: Any) -> None:
    cls = type(config)
    public = [k for k in vars(config) if not k.startswith("_")] + [
        k[1:] for k in vars(config)
        if k.startswith("_") and isinstance(getattr(cls, k[1:], None), property) and getattr(cls, k[1:]).fset
    ]
    if key not in public:
        raise ValueError(f"unknown setting {key!r}{_suggest(key, public)} for {type(config).__name__}")
    current = getattr(config, key)
    value = _coerce(key, value, current)
    _check_range(key, value)
    setattr(config, key, value)


def _coerce(key: str, value: Any, current: Any) -> Any:
    def bad(kind):
        return ValueError(f"bad value for {key!r}: expected {kind}, got {value!r}")

    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise bad("True or False")
    elif isinstance(current, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
    elif isinstance(current, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        value = float(value)
    elif isinstance(current, (list, tuple)) and not isinstance(value, (list, tuple)):
        raise bad("a list")
    elif isinstance(current, dict) and not isinstance(value, dict):
        raise bad("a dict")
    return value


FLOAT32_MAX = 3.4028234663852886e38
"""The largest float32: torch computes in float32, where a larger setting (``lr=1e308``) becomes inf."""


def _check_range(key: str, value: Any) -> None:
    if isinstance(value, float) and not abs(value) <= FLOAT32_MAX:  # NaN too
        raise ValueError(f"bad value for {key!r}: {value!r} is not a finite float32 (torch's float, whose largest "
                         f"value is {FLOAT32_MAX:.3g})")
    if key not in RANGES or not isinstance(value, (int, float)):
        return
    low, high, low_inclusive = RANGES[key]
    too_low = low is not None and (value < low or (value == low and not low_inclusive))
    too_high = high is not None and value > high
    if too_low or too_high or (isinstance(value, float) and math.isnan(value)):
        lo = "-inf" if low is None else f"{low}"
        hi = "inf)" if high is None else f"{high}]"
        bracket = "[" if low_inclusive else "("
        raise ValueError(f"bad value for {key!r}: {value!r} is outside {bracket}{lo}, {hi}")


def _suggest(name: str, options, prefix: str = "") -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" (did you mean {prefix + close[0]!r}?)" if close else ""
