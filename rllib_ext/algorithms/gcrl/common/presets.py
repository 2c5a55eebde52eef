"""The family's presets: per-dataset deltas on top of a method's defaults, and the two sizes.

A method lists its per-dataset deltas in its config's ``PRESETS``, keyed by a dataset pattern: words of
the dataset name, in order (``"cube"`` matches every cube dataset, ``"antmaze-explore"`` every antmaze explore
dataset, ``"noisy"`` every noisy one), as OGBench's ``hyperparameters.sh`` sets them per method and dataset.
``deltas`` applies the matching patterns, fewer words first, then what every method shares: the long-horizon
discount of giant mazes and humanoidmaze, and the size (``paper`` = the published networks and batch,
``small`` = every MLP 256x2 and batch 256, a CPU budget).

Pixel datasets (``visual-<state dataset>``) take the deltas of their state twin (or the method's own
``PIXEL_PRESETS`` where its official pixel command lines differ: SAW's), then what every official pixel command
line sets (``PIXELS``: the ``impala_small`` encoder, batch 256; augmentation on manipulation) and the method's
pixel settings (``PIXEL_SETTINGS``: HIQL's ``low_actor_rep_grad``, SAW's ``share_goal_rep``); ``small`` on pixels
also takes batch 64.
"""

from typing import Any, Dict, Optional

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


PIXELS = dict(encoder="impala_small", train_batch_size_per_learner=256)
"""Every official pixel command line (``hyperparameters.sh``)."""
AUGMENTED_FAMILIES = ("cube", "scene", "puzzle")
"""Pixel families with ``p_aug=0.5`` in the official command lines (manipulation; locomotion has none)."""
PIXEL_SMALL = dict(train_batch_size_per_learner=64)
"""``small`` on pixels: the batch for a CPU."""


def dataset_family(dataset_name: str) -> str:
    family = dataset_name.removeprefix("visual-").split("-")[0]
    if family not in FAMILIES:
        raise ValueError(f"no preset for dataset {dataset_name!r}: known families {sorted(FAMILIES)} "
                         "and their visual- twins")
    return family


def matches(pattern: str, dataset_name: str) -> bool:
    """Whether the words of ``pattern`` occur in ``dataset_name``'s words, in order."""
    words = iter(dataset_name.split("-"))
    return all(word in words for word in pattern.split("-"))


def deltas(dataset_name: str, size: str, method_presets: Dict[str, Dict[str, Any]],
           pixel_presets: Optional[Dict[str, Dict[str, Any]]] = None,
           pixel_settings: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The settings preset ``size`` changes for ``dataset_name``: the method's deltas whose pattern matches
    (fewer words first, then in their order), the long horizon, (pixels: ``PIXELS``, augmentation, the method's
    pixel settings), then the size."""
    if size not in SIZES:
        raise ValueError(f"unknown preset {size!r}; known presets: {sorted(SIZES)}")
    family = dataset_family(dataset_name)
    pixels = dataset_name.startswith("visual-")
    name = dataset_name.removeprefix("visual-")
    patterns = pixel_presets if pixels and pixel_presets is not None else method_presets
    settings: Dict[str, Any] = {}
    for pattern in sorted(patterns, key=lambda p: p.count("-")):
        if matches(pattern, name):
            settings.update(patterns[pattern])
    if "giant" in name or name.startswith("humanoidmaze"):
        settings.update(LONG_HORIZON)
    if pixels:
        settings.update(PIXELS, **(dict(p_aug=0.5) if family in AUGMENTED_FAMILIES else {}), **(pixel_settings or {}))
    settings.update(SIZES[size])
    if pixels and size == "small":
        settings.update(PIXEL_SMALL)
    return settings
