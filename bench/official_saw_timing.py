"""Gradient steps/s of the official JAX SAW agent (``impls/agents/saw.py`` of johnlyzhou/saw).

The baseline of ``saw_throughput.py --official``; run by it in a separate Python that has jax,
flax, optax, distrax and ml_collections (not this project's venv), e.g.::

    python -m venv /tmp/jax && /tmp/jax/bin/pip install "jax[cpu]" flax optax distrax ml_collections
    /tmp/jax/bin/python bench/official_saw_timing.py --impls /path/to/saw/impls --size small

Times ``agent.update(batch)`` (the whole jitted step: losses, Adam, target EMA) on one fixed
batch of pointmaze dimensions, i.e. without the host-side sampling. Prints one JSON line.
"""

import argparse
import json
import sys
import time

import numpy as np

SIZES = {"full": ((512, 512, 512), 1024), "small": ((256, 256), 256)}
"""size -> (hidden dims of every network, batch size); the same as ``saw_throughput.SIZES``."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impls", required=True, help="the official repository's impls/ folder")
    parser.add_argument("--size", choices=sorted(SIZES), required=True)
    parser.add_argument("--steps", type=int, default=20, help="timed update steps")
    args = parser.parse_args()

    sys.path.insert(0, args.impls)
    import jax
    from agents.saw import SAWAgent, get_config

    hidden, batch_size = SIZES[args.size]
    config = get_config()
    config.actor_hidden_dims = config.low_actor_hidden_dims = config.value_hidden_dims = hidden
    config.batch_size = batch_size
    rng = np.random.default_rng(0)
    states = {key: rng.uniform(0, 20, (batch_size, 2)).astype(np.float32) for key in (
        "observations", "next_observations", "value_goals", "low_actor_goals", "high_actor_goals", "high_actor_targets")}  # fmt: skip
    batch = dict(states, actions=rng.uniform(-1, 1, (batch_size, 2)).astype(np.float32),
                 rewards=-np.ones(batch_size, np.float32), masks=np.ones(batch_size, np.float32))  # fmt: skip
    agent = SAWAgent.create(0, batch["observations"][:1], batch["actions"][:1], config)
    for _ in range(3):
        agent, info = agent.update(batch)
    jax.block_until_ready(info)
    start = time.perf_counter()
    for _ in range(args.steps):
        agent, info = agent.update(batch)
    jax.block_until_ready(info)
    rate = args.steps / (time.perf_counter() - start)
    print(json.dumps({"size": args.size, "steps_per_s": rate, "jax": jax.__version__}))


if __name__ == "__main__":
    main()
