"""The family's presets: per-dataset deltas on top of a method's defaults, and the two sizes.

A method lists its per-dataset deltas in its config's ``PRESETS``, keyed by a dataset pattern: words of
the dataset name, in order (``"cube"`` matches every cube dataset, ``"antmaze-explore"`` every antmaze explore
dataset, ``"noisy"`` every noisy one), as OGBench's ``hyperparameters.sh`` sets them per method and dataset.
``deltas`` applies the matching patterns, fewer words first, then what every method shares: the long-horizon
discount of giant mazes and humanoidmaze, and the size (``paper`` = the published networks and batch,
``small`` = every MLP 256x2 and batch 256, a CPU budget).
"""

from typing import Any, Dict

FAMILIES = ("pointmaze", "antmaze", "humanoidmaze", "antsoccer", "cube", "scene", "puzzle")
"""Dataset families (first word of the name) with presets."""

LONG_HORIZON = dict(gamma=0.995)
"""Giant mazes and all humanoidmaze datasets (every method, as in OGBench)."""

STITCHING = {
    "stitch": dict(actor_p_trajgoal=0.5, actor_p_randomgoal=0.5),
    "explore": dict(actor_p_trajgoal=0.0, actor_p_randomgoal=1.0),
}
"""Random actor goals on stitch and explore datasets: every method's preset in ``hyperparameters.sh`` but GCBC's."""

SIZES: Dict[str, Dict[str, Any]] = {
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


def matches(pattern: str, dataset_name: str) -> bool:
    """Whether the words of ``pattern`` occur in ``dataset_name``'s words, in order."""
    words = iter(dataset_name.split("-"))
    return all(word in words for word in pattern.split("-"))


def deltas(dataset_name: str, size: str, method_presets: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """The settings preset ``size`` changes for ``dataset_name``: the method's deltas whose pattern matches
    (fewer words first, then in their order), the long horizon, then the size."""
    if size not in SIZES:
        raise ValueError(f"unknown preset {size!r}; known presets: {sorted(SIZES)}")
    dataset_family(dataset_name)
    settings: Dict[str, Any] = {}
    for pattern in sorted(method_presets, key=lambda p: p.count("-")):
        if matches(pattern, dataset_name):
            settings.update(method_presets[pattern])
    if "giant" in dataset_name or dataset_name.startswith("humanoidmaze"):
        settings.update(LONG_HORIZON)
    settings.update(SIZES[size])
    return settings
