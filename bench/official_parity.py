"""Loss-for-loss and step-for-step parity of every offline method with the official JAX agents.

For each method (SAW, HIQL, GCIVL, GCIQL, QRL, CRL, GCBC) the official agent of johnlyzhou/saw's ``impls/``
(a fork of OGBench's, identical for the baselines) is created in a separate Python that has JAX; its
parameters, with the target networks moved off their copies of the online ones (so that the order of the
target update shows), are written to a file with one relabelled batch drawn by this library's
``GoalSampler``. Here the same weights are loaded into this library's RLModule, and both compute every loss
term on that batch and take one update (Adam step and target EMA). Printed per method: each loss term side by
side with the relative difference, then per network the relative difference of the parameter change
``|Δθ_ours − Δθ_official| / |Δθ_official|`` (norms over the network's parameters); all of it in float32 (the
real path: ``learner.update`` on a numpy batch) and in float64 (both sides cast; ours takes the learner's
``compute_gradients`` / ``apply_gradients``, since RLlib's batch conversion casts to float32).

Why the step is judged in float64: Adam's first step is ``lr · g / (|g| + eps)``, about ``±lr`` for every element
whatever its size, so an element whose gradient is a near-cancelling sum (|g| ~ 1e-7 while its summands are far
larger) flips sign under float32 rounding and moves by ``2 lr`` between the two programs. A handful of such
elements in the 512-wide layers give float32 step differences of up to a few 1e-3; in float64 they vanish. The
float32 rows therefore also give each program's float32 step against the official float64 step (``ours vs f64``,
``official vs f64``): how far float32 rounding alone moves the official update, beside how far it moves ours.

Not part of the tests (it needs the JAX environment)::

    python -m venv /tmp/jax && /tmp/jax/bin/pip install "jax[cpu]" flax optax distrax ml_collections
    python bench/official_parity.py --impls /path/to/saw/impls --official-python /tmp/jax/bin/python
    python bench/official_parity.py ... --methods hiql qrl --obs-dim 29 --act-dim 8 --json parity.json
    python bench/official_parity.py --impls /path/to/saw/impls --presets   # every paper preset vs hyperparameters.sh

The defaults are the official networks and batch (512x3 MLPs, batch 1024) on pointmaze dimensions.

``--pixels`` runs the pixel variants (``encoder=impala_small`` on both sides, the official pixel settings
``share_goal_rep`` for SAW and ``low_actor_rep_grad`` for HIQL): every Impala encoder's weights transferred
(kernels HWIO -> OIHW), one batch of random uint8 64x64x3 frames drawn by ``GoalSampler``, passed as uint8 to
both. SAW, HIQL, GCIVL, GCIQL and GCBC have pixel mappings::

    python bench/official_parity.py --impls /path/to/saw/impls --official-python /tmp/jax/bin/python \
        --pixels --methods saw hiql gcivl --batch-size 64
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

METHODS = ("saw", "hiql", "gcivl", "gciql", "qrl", "crl", "gcbc")
PIXEL_METHODS = ("saw", "hiql", "gcivl", "gciql", "gcbc")
PIXEL_SETTINGS = {"saw": dict(share_goal_rep=True), "hiql": dict(low_actor_rep_grad=True)}
"""The official pixel command lines' method settings (hyperparameters.sh), applied on both sides."""
LOSS_TOLERANCE = 1e-5
STEP_TOLERANCE = 1e-4

OFFICIAL_LOSSES = {
    # our logged loss term -> the official info key(s) it equals (summed)
    "saw": {"value_loss": ["value/value_loss"], "subpolicy_loss": ["low_actor/actor_loss"],
            "actor_loss": ["actor/awr_loss"], "bootstrap_loss": ["waypoint/waypoint_loss"]},
    "hiql": {"value_loss": ["value/value_loss"], "low_actor_loss": ["low_actor/actor_loss"],
             "high_actor_loss": ["high_actor/actor_loss"]},
    "gcivl": {"value_loss": ["value/value_loss"], "actor_loss": ["actor/actor_loss"]},
    "gciql": {"value_loss": ["value/value_loss"], "critic_loss": ["critic/critic_loss"],
              "actor_q_loss": ["actor/q_loss"], "actor_bc_loss": ["actor/bc_loss"]},
    "qrl": {"value_loss": ["value/value_loss"], "lambda_loss": ["value/lam_loss"],
            "dynamics_loss": ["dynamics/dynamics_loss"], "actor_q_loss": ["actor/q_loss"],
            "actor_bc_loss": ["actor/bc_loss"]},
    "crl": {"critic_loss": ["critic/contrastive_loss"], "actor_q_loss": ["actor/q_loss"],
            "actor_bc_loss": ["actor/bc_loss"]},
    "gcbc": {"actor_loss": ["actor/actor_loss"]},
}

TARGETS = {"saw": "value", "hiql": "value", "gcivl": "value", "gciql": "critic"}
"""Official module with an EMA target ``target_<name>``; the script perturbs the target before the step."""

BATCH_KEYS = {
    # official batch key -> this library's batch column
    "observations": "obs", "next_observations": "new_obs", "actions": "actions", "rewards": "rewards",
    "masks": "masks", "value_goals": "value_goals",
}
HIERARCHICAL_KEYS = {"low_actor_goals": "subpolicy_goals", "high_actor_goals": "actor_goals",
                     "high_actor_targets": "waypoints"}


# --- the official side (runs in the JAX Python) ------------------------------------------------------------


def official_side(args) -> None:
    sys.path.insert(0, args.impls)
    import importlib

    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)  # float64 only where asked for: params and batch are cast below
    data = np.load(args.batch)
    hidden = tuple(args.hidden)
    out = {}
    for method, dtype in ((m, d) for m in args.methods for d in ("float32", "float64")):
        module = importlib.import_module(f"agents.{method}")
        agent_class = next(getattr(module, n) for n in dir(module) if n.endswith("Agent") and n != "Agent")
        config = module.get_config()
        for key in config:
            if key.endswith("hidden_dims"):
                config[key] = hidden
        if args.pixels:
            config["encoder"] = "impala_small"
            config.update(PIXEL_SETTINGS.get(method, {}))
        keys = {**BATCH_KEYS, **(HIERARCHICAL_KEYS if config["dataset_class"] == "HGCDataset" else
                                  {"actor_goals": "actor_goals"})}
        batch = {k: data[v] if data[v].dtype == np.uint8 else data[v].astype(dtype) for k, v in keys.items()}
        agent = agent_class.create(args.seed, batch["observations"][:1], batch["actions"][:1], config)
        params = jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype), agent.network.params)
        if method in TARGETS:  # move the target off the online copy: the update order then matters
            key = f"modules_target_{TARGETS[method]}"
            leaves, tree = jax.tree_util.tree_flatten(params[key])
            rng = np.random.default_rng(1)
            params[key] = jax.tree_util.tree_unflatten(
                tree, [leaf + 0.05 * rng.standard_normal(leaf.shape).astype(np.float32) for leaf in leaves])
        network = agent.network
        agent = agent.replace(network=network.replace(params=params, opt_state=network.tx.init(params)))
        _, info = agent.total_loss(batch, agent.network.params)
        new_agent, _ = agent.update(batch)
        for prefix, tree in (("before", agent.network.params), ("after", new_agent.network.params)):
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
                name = "/".join(str(getattr(p, "key", p)) for p in path)
                out[f"{method}|{dtype}|{prefix}|{name}"] = np.asarray(leaf)
        for key, value in info.items():
            out[f"{method}|{dtype}|loss|{key}"] = np.asarray(value)
    out["jax_version"] = np.array(jax.__version__)
    np.savez(args.out, **out)


# --- presets against the official hyperparameters.sh -------------------------------------------------------


def _flag_value(text: str):
    if text in ("True", "False"):
        return text == "True"
    try:
        return float(text)
    except ValueError:
        return text


def official_commands(impls: str) -> dict:
    """``{(method, dataset): {flag: value}}`` of every command line of ``impls/hyperparameters.sh`` (state-based and
    pixel-based; not powderworld)."""
    import re

    commands = {}
    with open(os.path.join(impls, "hyperparameters.sh")) as f:
        for line in f:
            if not line.startswith("python main.py"):
                continue
            dataset = re.search(r"--env_name=(\S+)", line).group(1)
            method = re.search(r"--agent=agents/(\w+)\.py", line).group(1)
            if method in METHODS and not dataset.startswith("powderworld"):
                commands[method, dataset] = {k: _flag_value(v) for k, v in re.findall(r"--agent\.(\w+)=(\S+)", line)}
    return commands


def check_presets(impls: str) -> list:
    """Every official command against ``preset("paper")``: the flags it sets, the defaults it keeps."""
    from rllib_ext.algorithms.registry import get_algorithm

    renamed = {"discount": "gamma", "batch_size": "train_batch_size_per_learner"}
    problems, commands = [], official_commands(impls)
    for (method, dataset), flags in sorted(commands.items()):
        default = get_algorithm(method).algo_class.get_default_config()
        config = get_algorithm(method).algo_class.get_default_config().training(dataset_name=dataset).preset("paper")
        alpha = "awr_alpha" if method in ("saw", "gcivl") else "alpha"
        want = {renamed.get(k, alpha if k == "alpha" else k): v for k, v in flags.items()}
        keys = ("gamma", "subgoal_steps", "actor_p_trajgoal", "actor_p_randomgoal", "expectile", "awr_alpha", "alpha",
                "low_alpha", "high_alpha", "kl_alpha", "encoder", "p_aug", "share_goal_rep", "low_actor_rep_grad",
                "train_batch_size_per_learner")
        for key in (k for k in keys if hasattr(default, k)):
            expected = want.get(key, getattr(default, key))
            if (key == "subgoal_steps" and method not in ("saw", "hiql")) or (key == "gamma" and method == "gcbc"):
                continue  # only the hierarchical methods read k; GCBC reads no discount
            if getattr(config, key) != expected:
                problems.append(f"{method} {dataset}: {key} = {getattr(config, key)}, official {expected}")
    pixel_lines = sum(dataset.startswith("visual-") for _, dataset in commands)
    print(f"presets: {len(commands)} official command lines checked ({pixel_lines} pixel-based), "
          f"{len(problems)} differences" + "".join(f"\n  {p}" for p in problems))
    return problems


# --- this library's side ----------------------------------------------------------------------------------


def mlp_params(flax: dict, prefix: str, n_hidden: int, dense=("Dense_{}",), mean=None) -> dict:
    """Our ``MLP`` (``hidden.i``, ``norms.i``, ``out``) from a flax MLP (``Dense_i``, ``LayerNorm_i``) or GCActor."""
    t = {}
    for i in range(n_hidden):
        layer = f"{prefix}/{dense[0].format(i)}"
        t[f"hidden.{i}.weight"], t[f"hidden.{i}.bias"] = flax[f"{layer}/kernel"].T, flax[f"{layer}/bias"]
        norm = layer.replace("Dense", "LayerNorm")
        if f"{norm}/scale" in flax:
            t[f"norms.{i}.weight"], t[f"norms.{i}.bias"] = flax[f"{norm}/scale"], flax[f"{norm}/bias"]
    out = mean or f"{prefix}/{dense[0].format(n_hidden)}"
    t["out.weight"], t["out.bias"] = flax[f"{out}/kernel"].T, flax[f"{out}/bias"]
    return t


def actor_params(flax: dict, prefix: str, n_hidden: int) -> dict:
    return mlp_params(flax, f"{prefix}/actor_net", n_hidden, mean=f"{prefix}/mean_net")


def ensemble_params(flax: dict, prefix: str, n_hidden: int) -> dict:
    """Our ``EnsembleMLP`` from a flax ``ensemblize``d MLP (a leading member axis; none for a single net)."""
    t = {}
    for i in range(n_hidden + 1):
        kernel, bias = flax[f"{prefix}/Dense_{i}/kernel"], flax[f"{prefix}/Dense_{i}/bias"]
        if kernel.ndim == 2:
            kernel, bias = kernel[None], bias[None]
        t[f"weights.{i}"], t[f"biases.{i}"] = kernel, bias[:, None, :]
        if i < n_hidden and f"{prefix}/LayerNorm_{i}/scale" in flax:
            scale, shift = flax[f"{prefix}/LayerNorm_{i}/scale"], flax[f"{prefix}/LayerNorm_{i}/bias"]
            if scale.ndim == 1:
                scale, shift = scale[None], shift[None]
            t[f"norm_scales.{i}"], t[f"norm_shifts.{i}"] = scale[:, None, :], shift[:, None, :]
    return t


def impala_params(flax: dict, prefix: str) -> dict:
    """Our ``ImpalaEncoder`` (``stacks.i.conv``, ``stacks.i.blocks.b.{0,1}``, ``mlp.j``) from the flax one at ``prefix``."""
    t, i = {}, 0
    while f"{prefix}/stack_blocks_{i}/Conv_0/kernel" in flax:
        convs, c = [f"stacks.{i}.conv"], 1
        while f"{prefix}/stack_blocks_{i}/Conv_{c}/kernel" in flax:
            convs.append(f"stacks.{i}.blocks.{(c - 1) // 2}.{(c - 1) % 2}")
            c += 1
        for c, name in enumerate(convs):
            conv = f"{prefix}/stack_blocks_{i}/Conv_{c}"
            t[f"{name}.weight"], t[f"{name}.bias"] = flax[f"{conv}/kernel"].transpose(3, 2, 0, 1), flax[f"{conv}/bias"]
        i += 1
    j = 0
    while f"{prefix}/MLP_0/Dense_{j}/kernel" in flax:
        dense = f"{prefix}/MLP_0/Dense_{j}"
        t[f"mlp.{j}.weight"], t[f"mlp.{j}.bias"] = flax[f"{dense}/kernel"].T, flax[f"{dense}/bias"]
        j += 1
    return t


def torch_names(method: str, flax: dict, n: int, pixels: bool = False) -> dict:
    """``{our parameter name: array}`` for ``method`` from its flattened flax parameters (``n`` hidden layers);
    ``pixels``: with the official ``impala_small`` encoders (and ``PIXEL_SETTINGS``)."""
    def under(prefix, params):
        return {f"{prefix}.{k}": v for k, v in params.items()}

    def impala(ours, theirs):
        return under(ours, impala_params(flax, theirs)) if pixels else {}

    m = "modules_"
    rep = "layers_1" if pixels else "layers_0"  # pixels: goal_rep = Sequential(Impala, MLP, LengthNormalize)
    if method == "saw":
        shared = pixels  # PIXEL_SETTINGS: share_goal_rep, so the actor's phi is the value's
        return {**under("value.inputs.goal_representation.0", mlp_params(flax, f"{m}goal_rep/{rep}", n)),
                **impala("value.inputs.concat_encoder", f"{m}goal_rep/layers_0"),
                **impala("value.inputs.state_encoder", f"{m}value/gc_encoder/state_encoder"),
                **under("value.heads", ensemble_params(flax, f"{m}value/value_net", n)),
                **under("target_value_heads", ensemble_params(flax, f"{m}target_value/value_net", n)),
                **impala("target_value_inputs_state_encoder", f"{m}target_value/gc_encoder/state_encoder"),
                **under("actor.inputs.goal_representation.0",
                        mlp_params(flax, f"{m}goal_rep/{rep}" if shared else f"{m}actor_goal_rep_def/{rep}", n)),
                **impala("actor.inputs.concat_encoder", f"{m}goal_rep/layers_0" if shared else
                         f"{m}actor_goal_rep_def/layers_0"),
                **impala("actor.inputs.state_encoder", f"{m}actor/gc_encoder/state_encoder"),
                **under("actor.mlp", actor_params(flax, f"{m}actor", n)),
                **impala("subpolicy.inputs.concat_encoder", f"{m}low_actor/gc_encoder/concat_encoder"),
                **under("subpolicy.mlp", actor_params(flax, f"{m}low_actor", n))}
    if method == "hiql":
        return {**under("value.inputs.goal_representation.0", mlp_params(flax, f"{m}goal_rep/{rep}", n)),
                **impala("value.inputs.concat_encoder", f"{m}goal_rep/layers_0"),
                **impala("value.inputs.state_encoder", f"{m}value/gc_encoder/state_encoder"),
                **under("value.heads", ensemble_params(flax, f"{m}value/value_net", n)),
                **under("target_value_heads", ensemble_params(flax, f"{m}target_value/value_net", n)),
                **impala("target_value_inputs_state_encoder", f"{m}target_value/gc_encoder/state_encoder"),
                **impala("actor.state_encoder", f"{m}low_actor/gc_encoder/state_encoder"),
                **under("actor.low", actor_params(flax, f"{m}low_actor", n)),
                **impala("actor.high.inputs.concat_encoder", f"{m}high_actor/gc_encoder/concat_encoder"),
                **under("actor.high.mlp", actor_params(flax, f"{m}high_actor", n))}
    if method == "gcivl":
        return {**under("value.heads", ensemble_params(flax, f"{m}value/value_net", n)),
                **impala("value.inputs.concat_encoder", f"{m}value/gc_encoder/concat_encoder"),
                **under("target_value_heads", ensemble_params(flax, f"{m}target_value/value_net", n)),
                **impala("target_value_inputs_concat_encoder", f"{m}target_value/gc_encoder/concat_encoder"),
                **impala("actor.inputs.concat_encoder", f"{m}actor/gc_encoder/concat_encoder"),
                **under("actor.mlp", actor_params(flax, f"{m}actor", n))}
    if method == "gciql":
        return {**under("value.heads", ensemble_params(flax, f"{m}value/value_net", n)),
                **impala("value.inputs.concat_encoder", f"{m}value/gc_encoder/concat_encoder"),
                **under("critic.heads", ensemble_params(flax, f"{m}critic/value_net", n)),
                **impala("critic.inputs.concat_encoder", f"{m}critic/gc_encoder/concat_encoder"),
                **under("target_critic.heads", ensemble_params(flax, f"{m}target_critic/value_net", n)),
                **impala("target_critic.inputs.concat_encoder", f"{m}target_critic/gc_encoder/concat_encoder"),
                **impala("actor.inputs.concat_encoder", f"{m}actor/gc_encoder/concat_encoder"),
                **under("actor.mlp", actor_params(flax, f"{m}actor", n))}
    if method == "qrl":
        return {**under("value.phi", mlp_params(flax, f"{m}value/phi", n)),
                "value.alpha": flax[f"{m}value/alpha/value"],
                **under("dynamics", mlp_params(flax, f"{m}dynamics", n)),
                "log_lambda": flax[f"{m}lam/log_value"],
                **under("actor.mlp", actor_params(flax, f"{m}actor", n))}
    if method == "crl":
        return {**under("critic.phi", ensemble_params(flax, f"{m}critic/phi", n)),
                **under("critic.psi", ensemble_params(flax, f"{m}critic/psi", n)),
                **under("actor.mlp", actor_params(flax, f"{m}actor", n))}
    if method == "gcbc":
        return {**impala("actor.inputs.concat_encoder", f"{m}actor/gc_encoder/concat_encoder"),
                **under("actor.mlp", actor_params(flax, f"{m}actor", n))}
    raise ValueError(method)


def our_side(method: str, official: dict, batch: dict, hidden, batch_size: int, dtype: str, pixels: bool = False) -> dict:
    import gymnasium as gym
    import torch
    from ray.rllib.core import DEFAULT_MODULE_ID
    from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch

    from rllib_ext.algorithms.registry import get_algorithm

    config = get_algorithm(method).algo_class.get_default_config()
    settings = {k: tuple(hidden) for k in config.settings() if k.endswith("_hidden_dims")}
    config.training(train_batch_size_per_learner=batch_size, **settings)
    act_dim = batch["actions"].shape[-1]
    if pixels:
        config.training(encoder="impala_small", **PIXEL_SETTINGS.get(method, {}))
        height, width, channels = batch["obs"].shape[1:]
        observations = gym.spaces.Box(0, 255, (height, width, 2 * channels), np.uint8)
    else:
        observations = gym.spaces.Box(-np.inf, np.inf, (2 * batch["obs"].shape[-1],), np.float32)
    spaces = {DEFAULT_MODULE_ID: (observations, gym.spaces.Box(-1, 1, (act_dim,), np.float32))}
    learner = config.build_learner(spaces=spaces)
    module = learner.module[DEFAULT_MODULE_ID]
    if dtype == "float64":
        module.double()  # in place: the optimizer (no state yet) keeps the same parameters

    def flax_params(when, precision=dtype):
        prefix = f"{method}|{precision}|{when}|"
        return {k[len(prefix):]: v for k, v in official.items() if k.startswith(prefix)}

    before, after = (torch_names(method, flax_params(w), len(hidden), pixels) for w in ("before", "after"))
    exact = {w: torch_names(method, flax_params(w, "float64"), len(hidden), pixels) for w in ("before", "after")}
    ours = dict(module.named_parameters(remove_duplicate=False))  # a shared network under each of its names
    if set(before) != set(ours):
        raise RuntimeError(f"{method}: parameters not mapped: {sorted(set(ours) ^ set(before))}")
    with torch.no_grad():
        for name, value in before.items():
            ours[name].copy_(torch.as_tensor(np.asarray(value)).reshape(ours[name].shape))

    tensors = {k: torch.as_tensor(v if v.dtype == np.uint8 else v.astype(dtype)) for k, v in batch.items()}
    fwd = module.forward_train(tensors)
    loss = learner.compute_loss_for_module(module_id=DEFAULT_MODULE_ID, config=config, batch=tensors, fwd_out=fwd)
    losses = {}
    for term, keys in OFFICIAL_LOSSES[method].items():
        mine = float(learner.metrics.peek((DEFAULT_MODULE_ID, term)))
        theirs = float(sum(official[f"{method}|{dtype}|loss|{k}"] for k in keys))
        losses[term] = dict(ours=mine, official=theirs, rel=abs(mine - theirs) / max(abs(theirs), 1e-12))

    if dtype == "float32":  # the real path: the learner's update on a numpy batch
        learner.update(batch=MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(dict(batch))}, env_steps=batch_size))
    else:  # RLlib's batch conversion casts to float32: take the learner's gradient step on the float64 loss
        learner.apply_gradients(learner.compute_gradients({DEFAULT_MODULE_ID: loss}))
    steps = {}
    for network in sorted({n.split(".")[0] for n in ours}):
        names = [n for n in ours if n.split(".")[0] == network]
        delta_ours = np.concatenate([ours[n].detach().numpy().ravel() - np.ravel(before[n]) for n in names])
        delta_official = np.concatenate([np.ravel(after[n]) - np.ravel(before[n]) for n in names])
        delta_exact = np.concatenate([np.ravel(exact["after"][n]) - np.ravel(exact["before"][n]) for n in names])
        norm, exact_norm = np.linalg.norm(delta_official), max(np.linalg.norm(delta_exact), 1e-30)
        steps[network] = dict(rel=float(np.linalg.norm(delta_ours - delta_official) / max(norm, 1e-30)),
                              official_step=float(norm),
                              ours_vs_exact=float(np.linalg.norm(delta_ours - delta_exact) / exact_norm),
                              official_vs_exact=float(np.linalg.norm(delta_official - delta_exact) / exact_norm))
    return dict(losses=losses, steps=steps)


def make_batch(obs_dim: int, act_dim: int, batch_size: int, seed: int) -> dict:
    """One relabelled batch drawn by this library's ``GoalSampler`` from random walks of 100 steps."""
    from rllib_ext.algorithms.gcrl.common.goal_sampler import GoalSampler

    rng = np.random.default_rng(seed)
    episodes, rows = 50, 101
    actions = rng.uniform(-1, 1, (episodes, rows, act_dim)).astype(np.float32)
    start = rng.uniform(0, 20, (episodes, 1, obs_dim))
    steps = np.zeros((episodes, rows, obs_dim))
    steps[:, 1:, : min(obs_dim, act_dim)] = 0.2 * actions[:, :-1, : min(obs_dim, act_dim)]
    obs = (start + np.cumsum(steps, axis=1)).astype(np.float32)
    terminals = np.zeros((episodes, rows), bool)
    terminals[:, -1] = True
    sampler = GoalSampler(obs.reshape(-1, obs_dim), actions.reshape(-1, act_dim), terminals.ravel(), gamma=0.99,
                          subgoal_steps=25, value_p_curgoal=0.2, value_p_trajgoal=0.5, value_p_randomgoal=0.3,
                          seed=seed)
    return {k: np.asarray(v, np.float32) for k, v in sampler.sample(batch_size).items()}


def make_pixel_batch(act_dim: int, batch_size: int, seed: int, size: int = 64) -> dict:
    """One relabelled batch of uint8 ``size x size x 3`` frames drawn by ``GoalSampler`` (20 episodes of 40)."""
    from rllib_ext.algorithms.gcrl.common.goal_sampler import GoalSampler

    rng = np.random.default_rng(seed)
    episodes, rows = 20, 40
    frames = rng.integers(0, 256, (episodes * rows, size, size, 3), dtype=np.uint8)
    actions = rng.uniform(-1, 1, (episodes * rows, act_dim)).astype(np.float32)
    terminals = (np.arange(episodes * rows) % rows) == rows - 1
    sampler = GoalSampler(frames, actions, terminals, gamma=0.99, subgoal_steps=10, value_p_curgoal=0.2,
                          value_p_trajgoal=0.5, value_p_randomgoal=0.3, seed=seed)
    return {k: v if v.dtype == np.uint8 else np.asarray(v, np.float32) for k, v in sampler.sample(batch_size).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impls", required=True, help="the official repository's impls/ folder")
    parser.add_argument("--official-python", help="a Python with jax, flax, optax, distrax (required)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--obs-dim", type=int, default=2)
    parser.add_argument("--act-dim", type=int, default=2)
    parser.add_argument("--hidden", type=int, nargs="+", default=[512, 512, 512], help="every MLP's hidden dims")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--pixels", action="store_true",
                        help=f"the pixel variants (impala_small on 64x64x3 frames; methods {', '.join(PIXEL_METHODS)})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--presets", action="store_true",
                        help="only compare every paper preset with the official hyperparameters.sh (no JAX needed)")
    parser.add_argument("--official-side", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.official_side:
        return official_side(args)
    if args.presets:
        sys.exit(1 if check_presets(args.impls) else 0)
    if not args.official_python:
        parser.error("--official-python is required (or --presets)")
    if args.pixels and set(args.methods) - set(PIXEL_METHODS):
        parser.error(f"--pixels covers {', '.join(PIXEL_METHODS)}; not {', '.join(set(args.methods) - set(PIXEL_METHODS))}")

    import torch

    torch.manual_seed(args.seed)
    batch = (make_pixel_batch(args.act_dim, args.batch_size, args.seed) if args.pixels
             else make_batch(args.obs_dim, args.act_dim, args.batch_size, args.seed))
    with tempfile.TemporaryDirectory() as tmp:
        batch_file, out_file = os.path.join(tmp, "batch.npz"), os.path.join(tmp, "official.npz")
        np.savez(batch_file, **batch)
        subprocess.run([args.official_python, os.path.abspath(__file__), "--official-side", "--impls", args.impls,
                        "--batch", batch_file, "--out", out_file, "--seed", str(args.seed), "--methods", *args.methods,
                        "--hidden", *map(str, args.hidden), *(["--pixels"] if args.pixels else [])],
                       check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
        official = dict(np.load(out_file))
    results = {d: {m: our_side(m, official, batch, args.hidden, args.batch_size, d, args.pixels) for m in args.methods}
               for d in ("float32", "float64")}

    observations = "uint8 64x64x3 frames, impala_small" if args.pixels else f"obs {args.obs_dim}"
    print(f"official: johnlyzhou/saw impls (jax {official['jax_version']}); {observations}, act {args.act_dim}, "
          f"hidden {tuple(args.hidden)}, batch {args.batch_size}")
    worst = {}
    for dtype, by_method in results.items():
        print(f"\n{dtype}\n{'method':7} {'loss term':16} {'ours':>14} {'official':>14} {'rel. diff':>10}")
        for method, r in by_method.items():
            for term, v in r["losses"].items():
                print(f"{method:7} {term:16} {v['ours']:14.7g} {v['official']:14.7g} {v['rel']:10.2e}")
        print(f"{'method':7} {'network':20} {'|Δθ official|':>14} {'rel. diff of Δθ':>16} "
              f"{'ours vs f64':>12} {'official vs f64':>16}")
        for method, r in by_method.items():
            for network, v in r["steps"].items():
                print(f"{method:7} {network:20} {v['official_step']:14.4g} {v['rel']:16.2e} "
                      f"{v['ours_vs_exact']:12.2e} {v['official_vs_exact']:16.2e}")
        worst[dtype] = (max(v["rel"] for r in by_method.values() for v in r["losses"].values()),
                        max(v["rel"] for r in by_method.values() for v in r["steps"].values()))
    ok = worst["float32"][0] <= LOSS_TOLERANCE and worst["float64"][1] <= STEP_TOLERANCE
    print()
    for dtype, (loss_rel, step_rel) in worst.items():
        print(f"{dtype}: worst loss rel. diff {loss_rel:.2e}, worst step rel. diff {step_rel:.2e}")
    for method, r in results["float32"].items():  # how far float32 rounding alone moves each program's step
        ours, theirs = (max(v[k] for v in r["steps"].values()) for k in ("ours_vs_exact", "official_vs_exact"))
        print(f"{method}: float32 step against the official float64 step: ours {ours:.2e}, official {theirs:.2e}")
    print(f"criteria: float32 losses <= {LOSS_TOLERANCE:g}, float64 step <= {STEP_TOLERANCE:g}: "
          f"{'PARITY' if ok else 'MISMATCH'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(settings=vars(args) | {"jax": str(official["jax_version"])}, results=results,
                           worst=worst, parity=ok), f, indent=1, default=str)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
