"""Every hyperparameter of SAW, GCIVL and GCBC per OGBench dataset family (brief 1.5).

In the style of OGBench's ``get_config()``: ``SAW`` lists every setting with its official
default (``impls/agents/saw.py``); each family changes only what the paper's Table 2 changes.
Keys are ``SAWConfig`` attributes, so ``config.training(**get_config(name))`` applies one.
``paper`` is the published setting; ``small`` shrinks every MLP (goal representations too)
to 256x2 and the batch to 256, the reduced CPU setting of brief §8 check 6.
"""

from typing import Dict

SAW: Dict = dict(
    lr=3e-4,  # Adam, one optimizer over all networks
    train_batch_size_per_learner=1024,  # batch size
    gamma=0.99,  # discount; also the geometric value-goal offsets, Geom(1 - gamma)
    tau=0.005,  # EMA rate of the target value heads
    expectile=0.7,  # GCIVL expectile
    low_alpha=3.0,  # subpolicy AWR temperature
    awr_alpha=3.0,  # flat one-step AWR temperature (alpha)
    kl_alpha=3.0,  # bootstrapping importance-weight temperature (beta)
    subgoal_steps=25,  # k: waypoint and subpolicy-goal horizon
    actor_hidden_dims=(512, 512, 512),
    subpolicy_hidden_dims=(512, 512, 512),
    value_hidden_dims=(512, 512, 512),  # value heads and both goal representations
    layer_norm=True,  # on the value heads and goal representations (never on actors)
    goal_representation=True,  # value and actor see [s; phi([s; g])] (paper App. F.4)
    rep_dim=10,
    share_goal_rep=False,  # True only for the pixel variants
    value_p_curgoal=0.2,
    value_p_trajgoal=0.5,
    value_p_randomgoal=0.3,
)

FAMILIES: Dict[str, Dict] = {
    "pointmaze": dict(SAW),
    "antmaze": dict(SAW),
    "humanoidmaze": dict(SAW, subgoal_steps=100),
    "cube": dict(SAW, kl_alpha=1.0, subgoal_steps=10),
    "scene": dict(SAW, kl_alpha=1.0, subgoal_steps=10),
    # SAW publishes no puzzle setting; this copies the other manipulation families (assumption).
    "puzzle": dict(SAW, kl_alpha=1.0, subgoal_steps=10),
}

SAW_DATASETS: Dict[str, Dict] = {
    "cube-single": dict(expectile=0.9, kl_alpha=0.3),
}
"""Per-dataset exceptions, matched by name prefix."""

LONG_HORIZON = dict(gamma=0.995)
"""Giant mazes and all humanoidmaze datasets (every method, as in OGBench)."""

VARIANTS: Dict[str, Dict] = {
    "saw": {},
    # OGBench's GCIVL: no goal representation, expectile 0.9, AWR temperature 10, no bootstrapping.
    "gcivl": dict(expectile=0.9, awr_alpha=10.0, goal_representation=False),
    # OGBench's GCBC: the flat actor alone, maximum likelihood on future-state goals.
    "gcbc": dict(goal_representation=False),
}

SIZES: Dict[str, Dict] = {
    "paper": {},
    "small": dict(
        actor_hidden_dims=(256, 256),
        subpolicy_hidden_dims=(256, 256),
        value_hidden_dims=(256, 256),
        train_batch_size_per_learner=256,
    ),
}


def dataset_family(dataset_name: str) -> str:
    family = dataset_name.split("-")[0]
    if family not in FAMILIES:
        raise ValueError(
            f"no preset for dataset {dataset_name!r}: known families {sorted(FAMILIES)}"
            + (" (pixel datasets need an image `encoder`; set hyperparameters by hand)" if family == "visual" else "")
        )
    return family


def get_config(dataset_name: str, preset: str = "paper", variant: str = "saw") -> Dict:
    """Every hyperparameter for ``variant`` on ``dataset_name`` at size ``preset``."""
    if preset not in SIZES:
        raise ValueError(f"unknown preset {preset!r}; known presets: {sorted(SIZES)}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known variants: {sorted(VARIANTS)}")
    config = dict(FAMILIES[dataset_family(dataset_name)])
    if variant == "saw":
        for prefix, overrides in SAW_DATASETS.items():
            if dataset_name.startswith(prefix):
                config.update(overrides)
    if "giant" in dataset_name or dataset_name.startswith("humanoidmaze"):
        config.update(LONG_HORIZON)
    config.update(VARIANTS[variant])
    config.update(SIZES[preset])
    return config
