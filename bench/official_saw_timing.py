"""Gradient steps/s of an official JAX agent (``impls/agents/<agent>.py`` of johnlyzhou/saw; SAW by default).

The baseline of ``saw_throughput.py --official``; run by it in a separate Python that has jax,
flax, optax, distrax and ml_collections (not this project's venv), e.g.::

    python -m venv /tmp/jax && /tmp/jax/bin/pip install "jax[cpu]" flax optax distrax ml_collections
    /tmp/jax/bin/python bench/official_saw_timing.py --impls /path/to/saw/impls --size small
    /tmp/jax/bin/python bench/official_saw_timing.py --impls /path/to/saw/impls --size full --agent hiql

Times ``agent.update(batch)`` (the whole jitted step: losses, Adam, target EMA) on one fixed
batch of pointmaze dimensions (``--size pixels``: uint8 64x64x3 frames, ``encoder=impala_small`` and the
official pixel settings, 5 actions as visual-cube), i.e. without the host-side sampling. Prints one JSON line.
"""

import argparse
import json
import sys
import time

import numpy as np

SIZES = {"full": ((512, 512, 512), 1024), "small": ((256, 256), 256), "pixels": ((512, 512, 512), 256)}
"""size -> (hidden dims of every network, batch size); the same as ``saw_throughput.SIZES``."""
PIXEL_SETTINGS = {"saw": dict(share_goal_rep=True), "hiql": dict(low_actor_rep_grad=True)}
"""The official pixel command lines (hyperparameters.sh) beyond ``encoder=impala_small``."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impls", required=True, help="the official repository's impls/ folder")
    parser.add_argument("--size", choices=sorted(SIZES), required=True)
    parser.add_argument("--steps", type=int, default=20, help="timed update steps")
    parser.add_argument("--agent", default="saw", help="saw, hiql, gcivl, gciql, qrl, crl or gcbc")
    args = parser.parse_args()

    sys.path.insert(0, args.impls)
    import importlib

    import jax

    module = importlib.import_module(f"agents.{args.agent}")
    agent_class = next(getattr(module, n) for n in dir(module) if n.endswith("Agent") and n != "Agent")
    hidden, batch_size = SIZES[args.size]
    config = module.get_config()
    for key in config:
        if key.endswith("hidden_dims"):
            config[key] = hidden
    config.batch_size = batch_size
    pixels = args.size == "pixels"
    if pixels:
        config.encoder = "impala_small"
        config.update(PIXEL_SETTINGS.get(args.agent, {}))
    goals = (("low_actor_goals", "high_actor_goals", "high_actor_targets") if config.dataset_class == "HGCDataset"
             else ("actor_goals",))
    rng = np.random.default_rng(0)
    states = {key: rng.integers(0, 256, (batch_size, 64, 64, 3), dtype=np.uint8) if pixels
              else rng.uniform(0, 20, (batch_size, 2)).astype(np.float32)
              for key in ("observations", "next_observations", "value_goals", *goals)}
    batch = dict(states, actions=rng.uniform(-1, 1, (batch_size, 5 if pixels else 2)).astype(np.float32),
                 rewards=-np.ones(batch_size, np.float32), masks=np.ones(batch_size, np.float32))  # fmt: skip
    agent = agent_class.create(0, batch["observations"][:1], batch["actions"][:1], config)
    for _ in range(3):
        agent, info = agent.update(batch)
    jax.block_until_ready(info)
    start = time.perf_counter()
    for _ in range(args.steps):
        agent, info = agent.update(batch)
    jax.block_until_ready(info)
    rate = args.steps / (time.perf_counter() - start)
    print(json.dumps({"agent": args.agent, "size": args.size, "steps_per_s": rate, "jax": jax.__version__}))


if __name__ == "__main__":
    main()
