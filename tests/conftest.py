"""One real Ray runtime per pytest session, sized for a 2-core, 24 GiB CI machine."""

import pytest
import ray
import torch

import envs.ogbench  # noqa: F401  (before anything imports mujoco: pixel envs render headless, envs/ogbench/rendering.py)

# One intra-op thread: the 2-core CI machine runs Ray workers beside the test process, and the
# learning tests' thresholds were measured this way.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def ray_session():
    """A local Ray runtime shared by every test that asks for it (object store capped at 1 GiB)."""
    if not ray.is_initialized():
        ray.init(
            num_cpus=2,
            object_store_memory=1024**3,
            include_dashboard=False,
            configure_logging=True,
            logging_level="ERROR",
        )
    yield
    ray.shutdown()


@pytest.fixture
def no_ray_start(monkeypatch):
    """Fail the test if anything tries to start Ray (bad input must be refused before that)."""

    def refuse(*args, **kwargs):
        raise AssertionError("Ray was started although the input was invalid")

    monkeypatch.setattr(ray, "init", refuse)
