"""The offline family learns: every method on one locally generated pointmaze-medium-navigate dataset.

A 300-episode dataset (``generate_dataset``, seed 0), the ``small`` preset with ``lr=1e-3`` (preset 3e-4) and, for
the methods with target networks, ``tau=0.02`` (preset 0.005), so that the values learn within the CI budget;
10 evaluation episodes per task (2 for the short runs). The runs are ``bench/offline_learning.py``'s
``train_and_evaluate`` in Ray tasks, two at a time on the 2-core CI machine, longest first.
SAW and HIQL must clearly beat GCBC, all three at 3k steps; GCIVL, GCIQL, QRL and CRL get a short run that must
train with finite losses, and their success is printed (``pytest -s``). The thresholds come from
``bench/offline_learning.py`` runs with these settings on two machines and the test's own run on a third (listed below).
"""

import os
import sys

import pytest

from saw_data import DATASET

sys.path.append(os.path.join(os.path.dirname(__file__), "..", "bench"))
import offline_learning  # noqa: E402  (bench/ is not a package)

EPISODES = 300
OVERRIDES = ["lr=1e-3", "tau=0.02"]
STEPS = {"saw": 3000, "hiql": 3000, "gcbc": 3000, "qrl": 200, "crl": 200, "gciql": 400, "gcivl": 400}
"""Gradient steps per method, in the order the runs are started (longest first)."""
EVAL_EPISODES = {"saw": 10, "hiql": 10, "gcbc": 10}
"""Evaluation episodes per task; 2 for the methods only checked to train."""

# Measured with `bench/offline_learning.py --methods saw hiql gcbc --seeds 0 1 2 3 --steps 6000 --set lr=1e-3
# --set tau=0.02` on this dataset, success at each 1k steps. A run is deterministic on one machine (the test's seed-0
# runs repeat the seed-0 curve), not across CPUs: float rounding differs, and a few thousand steps later so does
# the policy. Machine A (earlier sessions), training seeds 0 / 1:
#   SAW    0.28 0.66 0.78 0.72 0.74 0.62  /  0.30 0.62 0.60 0.62 0.62 0.64
#   HIQL   0.38 0.60 0.60 0.60 0.62 0.60  /  0.54 0.60 0.60 0.60 0.60 0.60
#   GCBC   0.20 0.32 0.28 0.04 0.40 0.26  /  0.38 0.40 0.02 0.16 0.10 0.26
# Machine B (a Xeon with AVX-512 FP16; the CI machine repeats its seed-0 numbers), training seeds 0 / 1 / 2 / 3:
#   SAW    0.42 0.40 0.66 0.72 0.68 0.60  /  0.16 0.60 0.60 0.60 0.66 0.78  /  0.20 0.60 0.60 0.64 0.52 0.86
#          /  0.26 0.60 0.64 0.74 0.64 0.92
#   HIQL   0.36 0.60 0.60 0.60 0.60 0.60  /  0.40 0.60 0.60 0.60 0.60 0.60  /  0.60 0.48 0.60 0.60 0.60 0.76
#          /  0.00 0.40 0.60 0.60 0.60 0.66
#   GCBC   0.20 0.32 0.30 0.10 0.42 0.28  /  0.38 0.36 0.02 0.16 0.06 0.42  /  0.48 0.42 0.30 0.28 0.02 0.18
#          /  0.22 0.30 0.40 0.02 0.24 0.18
# Machine C (an AMD EPYC, about half machine B's speed here), the test's own run (seed 0, 3k steps): SAW 0.78,
# HIQL 0.60, GCBC 0.28; GCIVL 0.40, GCIQL / CRL / QRL 0.00.
# At 2k steps SAW and HIQL are still arriving on machine B (SAW 0.40, HIQL 0.40-0.48); from 3k on every run is
# >= 0.60 (tasks 1, 2 and 5; SAW often more of 3 and 4). GCBC swings between 0.02 and 0.48 (mostly one or two tasks).
# The short runs as the test makes them (seed 0, 2 episodes per task): GCIVL 0.40 at 400 steps, GCIQL 0.00 at 400,
# CRL and QRL 0.00 at 200; earlier, at 1k steps (GCIQL, GCIVL) and 500 (CRL, QRL): GCIQL 0.40, GCIVL 0.20, CRL 0.20,
# QRL 0.00, and at twice those with 10 episodes per task: GCIQL 0.20, CRL 0.12, QRL 0.02, GCIVL 0.00 (its value needs
# longer: 0.60 from 24k steps on, docs/results.md).
MIN_SUCCESS = {"saw": 0.5, "hiql": 0.5}
"""SAW and HIQL at 3k steps: lowest measured 0.60 (14 runs: 7 seeds on three machines)."""
MIN_MARGIN_OVER_GCBC = 0.15
"""GCBC at 3k steps: 0.28 / 0.02 (machine A), 0.30 / 0.02 / 0.30 / 0.40 (machine B), 0.28 (machine C); the
measured margins of SAW and HIQL over GCBC at 3k are >= 0.20 (HIQL 0.60 against GCBC 0.40, machine B seed 3),
>= 0.30 in 12 of 14."""


def test_every_method_learns_on_pointmaze_medium(tmp_path_factory, ray_session):
    import ray

    from envs.ogbench.datagen import generate_dataset

    path = str(tmp_path_factory.mktemp("pointmaze") / f"{DATASET}.npz")
    generate_dataset(DATASET, EPISODES, path, seed=0, progress=False, num_workers=2)
    ray.cloudpickle.register_pickle_by_value(offline_learning)  # bench/ is not importable there
    run = ray.remote(num_cpus=1)(offline_learning.train_and_evaluate)
    futures = [run.remote(m, path, 0, STEPS[m], STEPS[m], EVAL_EPISODES.get(m, 2), OVERRIDES) for m in STEPS]
    results = dict(zip(STEPS, ray.get(futures)))
    success = {m: round(r["success"], 2) for m, r in results.items()}
    print(f"\nsuccess after {STEPS} steps: {success}")  # seen with pytest -s
    assert all(r["losses_finite"] for r in results.values()), results
    for method, floor in MIN_SUCCESS.items():
        assert success[method] >= floor, (method, success)
    for method in ("saw", "hiql"):
        assert round(success[method] - success["gcbc"], 2) >= MIN_MARGIN_OVER_GCBC, (method, success)


def test_a_schedule_that_does_not_divide_is_refused_before_any_work(tmp_path):
    # train() calls are min(1000, eval_every) steps: 1500 does not divide into them, 3000 steps not into 2000
    assert offline_learning.schedule_problem(3000, 3000) is None and offline_learning.schedule_problem(400, 200) is None
    with pytest.raises(ValueError, match="eval_every below 1000 or a multiple of it: got steps=3000, eval_every=1500"):
        offline_learning.train_and_evaluate("gcbc", str(tmp_path / "absent.npz"), 0, 3000, 1500, 1, OVERRIDES)
    assert "steps must be a multiple of eval_every" in offline_learning.schedule_problem(3000, 2000)
