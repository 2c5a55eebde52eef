"""SAW (Zhou & Kao, "Flattening Hierarchies with Policy Bootstrapping") and its GCIVL / GCBC baselines.

.. code-block:: python

    from rllib_ext.saw import SAWConfig, GCIVLConfig, GCBCConfig

    config = (
        SAWConfig()                      # or GCIVLConfig() / GCBCConfig()
        .training(dataset_path="data/pointmaze-medium-navigate-v0.npz")  # name from the file
        .preset("small")                 # the family's hyperparameters (presets.py), CPU size
        .training(num_steps_per_iteration=1000)
        .evaluation(evaluation_interval=10, evaluation_duration=20)      # episodes per task
        .debugging(seed=0)
    )
    algo = config.build_algo()
    result = algo.train()                # 1000 gradient steps; result["evaluation"]["success"]
    algo.save_to_path("/abs/ckpt")       # Algorithm.from_checkpoint("/abs/ckpt") resumes

The dataset is an OGBench ``.npz`` (rows ``(s_t, a_t)``, ``terminals`` on each episode's last
row) named by ``dataset_path``; ``dataset_name`` defaults to the file name and picks the
evaluation env and the presets. SAW does not use ``config.offline_data(input_=...)``: its
relabelling needs whole trajectories in memory (see ``goal_sampler.py``).
"""

import os
import time
from typing import Any, Callable, Dict, Optional, Sequence

from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import (
    LEARNER_RESULTS,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    TIMERS,
)
from ray.rllib.utils.typing import ResultDict

from envs.ogbench_dataset import KNOWN_DATASETS
from rllib_ext.saw import data, presets
from rllib_ext.saw.default_saw_rl_module import VARIANT_NAMES
from rllib_ext.saw.goal_env import OGBenchGoalEnv
from rllib_ext.saw.goal_sampler import GoalSampler
from rllib_ext.saw.policy import MeanActionPolicy

GRAD_STEPS_PER_S = "grad_steps_per_s"
NUM_GRAD_STEPS_LIFETIME = "num_grad_steps_lifetime"
UPDATE_BATCH_BYTES = 64 * 2**20
"""Upper bound on one ``learner_group.update`` batch; an iteration's steps are split to fit."""

_TRAINING_KEYS = (
    "variant", "num_steps_per_iteration", "tau", "expectile", "low_alpha", "awr_alpha", "kl_alpha",
    "subgoal_steps", "actor_hidden_dims", "subpolicy_hidden_dims", "value_hidden_dims", "layer_norm",
    "goal_representation", "rep_dim", "share_goal_rep", "encoder", "value_p_curgoal",
    "value_p_trajgoal", "value_p_randomgoal", "eval_num_workers",
)  # fmt: skip
_MODULE_KEYS = (
    "variant", "actor_hidden_dims", "subpolicy_hidden_dims", "value_hidden_dims", "layer_norm",
    "goal_representation", "rep_dim", "share_goal_rep", "encoder",
)  # fmt: skip


class SAWConfig(AlgorithmConfig):
    """Configuration of SAW (and, through ``variant``, of GCIVL and GCBC).

    Defaults are the official ``impls/agents/saw.py`` settings; ``preset()`` applies a dataset
    family's (``presets.py``). One ``train()`` runs ``num_steps_per_iteration`` gradient steps on
    batches of ``train_batch_size_per_learner``. Evaluation runs every ``evaluation_interval``
    iterations with ``evaluation_duration`` episodes on each of the dataset's 5 OGBench tasks.
    """

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or SAW)
        # fmt: off
        # __sphinx_doc_begin__
        self.dataset_path: Optional[str] = None
        self.dataset_name: Optional[str] = None
        self.variant = "saw"
        self.num_steps_per_iteration = 1000
        self.lr = 3e-4
        self.train_batch_size_per_learner = 1024
        self.gamma = 0.99
        self.tau = 0.005
        self.expectile = 0.7
        self.low_alpha = 3.0
        self.awr_alpha = 3.0
        self.kl_alpha = 3.0
        self.subgoal_steps = 25
        self.actor_hidden_dims = (512, 512, 512)
        self.subpolicy_hidden_dims = (512, 512, 512)
        self.value_hidden_dims = (512, 512, 512)
        self.layer_norm = True
        self.goal_representation = True
        self.rep_dim = 10
        self.share_goal_rep = False
        self.encoder: Optional[Callable] = None
        self.value_p_curgoal = 0.2
        self.value_p_trajgoal = 0.5
        self.value_p_randomgoal = 0.3
        self.eval_num_workers: Optional[int] = None
        self.evaluation_duration = 50
        self.num_env_runners = 0
        # __sphinx_doc_end__
        # fmt: on

    @override(AlgorithmConfig)
    def training(
        self,
        *,
        dataset_path: Optional[str] = NotProvided,
        dataset_name: Optional[str] = NotProvided,
        variant: str = NotProvided,
        num_steps_per_iteration: int = NotProvided,
        tau: float = NotProvided,
        expectile: float = NotProvided,
        low_alpha: float = NotProvided,
        awr_alpha: float = NotProvided,
        kl_alpha: float = NotProvided,
        subgoal_steps: int = NotProvided,
        actor_hidden_dims: Sequence[int] = NotProvided,
        subpolicy_hidden_dims: Sequence[int] = NotProvided,
        value_hidden_dims: Sequence[int] = NotProvided,
        layer_norm: bool = NotProvided,
        goal_representation: bool = NotProvided,
        rep_dim: int = NotProvided,
        share_goal_rep: bool = NotProvided,
        encoder: Optional[Callable] = NotProvided,
        value_p_curgoal: float = NotProvided,
        value_p_trajgoal: float = NotProvided,
        value_p_randomgoal: float = NotProvided,
        eval_num_workers: Optional[int] = NotProvided,
        **kwargs,
    ) -> "SAWConfig":
        """Sets SAW's training settings (and any ``AlgorithmConfig.training`` setting).

        Args:
            dataset_path: OGBench-layout ``.npz`` with ``observations``, ``actions``, ``terminals``.
                Setting it also sets the env to ``OGBenchGoalEnv`` of the dataset.
            dataset_name: OGBench dataset name (default: the file name without ``.npz``).
            variant: ``"saw"``, ``"gcivl"`` (no subpolicy, no bootstrapping) or ``"gcbc"``
                (actor only, unweighted likelihood). ``GCIVLConfig`` / ``GCBCConfig`` set it.
            num_steps_per_iteration: Gradient steps per ``train()`` call.
            tau: EMA rate of the target value heads.
            expectile: GCIVL expectile, in (0, 1).
            low_alpha: Subpolicy AWR temperature (>= 0).
            awr_alpha: Flat actor one-step AWR temperature alpha (>= 0).
            kl_alpha: Bootstrapping importance-weight temperature beta (>= 0).
            subgoal_steps: k, steps to the waypoint and the subpolicy goal.
            actor_hidden_dims / subpolicy_hidden_dims / value_hidden_dims: MLP widths; the
                value widths also size both goal representations.
            layer_norm: LayerNorm on value heads and goal representations.
            goal_representation: Value and actor see ``[s; φ([s; g])]`` instead of ``[s; g]``.
            rep_dim: Width of φ's length-normalised output.
            share_goal_rep: Actor reuses the value's φ (gradients included); pixel variants.
            encoder: Optional factory ``input_shape -> nn.Module`` applied to observations and
                to ``[s; g]`` before the MLPs (the pixel variants' Impala CNN goes here).
            value_p_curgoal / value_p_trajgoal / value_p_randomgoal: Value-goal mixture (sum 1).
            eval_num_workers: Processes for the goal-conditioned evaluation (None: its default).
        """
        saw_kwargs = {k: v for k, v in locals().items() if k in _TRAINING_KEYS and v is not NotProvided}
        super().training(**kwargs)
        for key, value in saw_kwargs.items():
            setattr(self, key, tuple(value) if key.endswith("_hidden_dims") else value)
        if dataset_path is not NotProvided:
            self.dataset_path = os.path.abspath(os.path.expanduser(dataset_path))
            if dataset_name is NotProvided:
                dataset_name = os.path.basename(self.dataset_path).removesuffix(".npz")
        if dataset_name is not NotProvided:
            self.dataset_name = dataset_name
            self.environment(env=OGBenchGoalEnv, env_config={"dataset_name": dataset_name})
        return self

    def preset(self, name: str = "paper") -> "SAWConfig":
        """Applies ``presets.get_config(dataset_name, name, variant)``: every hyperparameter at once."""
        if self.dataset_name is None:
            raise ValueError("set `dataset_path` (or `dataset_name`) before `preset()`")
        return self.training(**presets.get_config(self.dataset_name, name, self.variant))

    @override(AlgorithmConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        from rllib_ext.saw.torch.default_saw_torch_rl_module import DefaultSAWTorchRLModule

        return RLModuleSpec(module_class=DefaultSAWTorchRLModule)

    @override(AlgorithmConfig)
    def get_default_learner_class(self):
        from rllib_ext.saw.torch.saw_torch_learner import SAWTorchLearner

        return SAWTorchLearner

    @property
    def _model_config_auto_includes(self) -> Dict[str, Any]:
        return super()._model_config_auto_includes | {k: getattr(self, k) for k in _MODULE_KEYS}

    @override(AlgorithmConfig)
    def validate(self) -> None:
        super().validate()
        error = self._saw_error()
        if error:
            self._value_error(error)

    def _saw_error(self) -> Optional[str]:
        """The first invalid SAW setting, described by its key, or None."""
        if self.variant not in VARIANT_NAMES:
            return f"`variant` must be one of {VARIANT_NAMES}, got {self.variant!r}"
        checks = [
            ("num_steps_per_iteration", _is_int(self.num_steps_per_iteration, 1), ">= 1 (an integer)"),
            ("train_batch_size_per_learner", _is_int(self.train_batch_size_per_learner, 1), ">= 1 (an integer)"),
            ("lr", not _is_number(self.lr) or self.lr > 0, "> 0"),
            ("gamma", _is_number(self.gamma) and 0 < self.gamma < 1, "in (0, 1)"),
            ("tau", _is_number(self.tau) and 0 < self.tau <= 1, "in (0, 1]"),
            ("expectile", _is_number(self.expectile) and 0 < self.expectile < 1, "in (0, 1)"),
            ("awr_alpha", _is_number(self.awr_alpha) and self.awr_alpha >= 0, ">= 0 and finite"),
            ("low_alpha", _is_number(self.low_alpha) and self.low_alpha >= 0, ">= 0 and finite"),
            ("kl_alpha", _is_number(self.kl_alpha) and self.kl_alpha >= 0, ">= 0 and finite"),
            ("subgoal_steps", _is_int(self.subgoal_steps, 1), ">= 1 (an integer)"),
            ("rep_dim", _is_int(self.rep_dim, 1), ">= 1 (an integer)"),
            ("encoder", self.encoder is None or callable(self.encoder), "None or a callable input_shape -> nn.Module"),
            ("num_env_runners", self.num_env_runners == 0, "0 (SAW learns from its dataset only)"),
        ]
        checks += [
            (key, _is_dims(getattr(self, key)), "a non-empty sequence of positive integers")
            for key in ("actor_hidden_dims", "subpolicy_hidden_dims", "value_hidden_dims")
        ]
        probs = {k: getattr(self, k) for k in ("value_p_curgoal", "value_p_trajgoal", "value_p_randomgoal")}
        checks += [(k, _is_number(p) and 0 <= p <= 1, "in [0, 1]") for k, p in probs.items()]
        for key, ok, requirement in checks:
            if not ok:
                return f"`{key}` must be {requirement}, got {getattr(self, key)!r}"
        if abs(sum(probs.values()) - 1) > 1e-6:
            return f"`value_p_curgoal` + `value_p_trajgoal` + `value_p_randomgoal` must be 1, got {probs}"
        if self.share_goal_rep and not self.goal_representation:
            return "`share_goal_rep` needs `goal_representation=True`"
        if self.evaluation_interval and self.evaluation_duration_unit != "episodes":
            return "`evaluation_duration_unit` must be 'episodes' (episodes per evaluation task)"
        if self.evaluation_interval and not _is_int(self.evaluation_duration, 1):
            return f"`evaluation_duration` (episodes per task) must be >= 1, got {self.evaluation_duration!r}"

        if self.dataset_path is None:
            return "`dataset_path` is not set: SAW trains from an OGBench .npz (config.training(dataset_path=...))"
        if self.dataset_name not in KNOWN_DATASETS:
            return f"`dataset_name` {self.dataset_name!r} is not an OGBench dataset name (e.g. 'pointmaze-medium-navigate-v0')"
        try:
            dataset = data.load(self.dataset_path)
        except (OSError, ValueError) as e:
            return f"`dataset_path` cannot be used: {e}"
        if self.variant == "saw" and self.subgoal_steps > data.shortest_episode(dataset):
            return (
                f"`subgoal_steps` ({self.subgoal_steps}) is larger than the shortest episode "
                f"({data.shortest_episode(dataset)} transitions) of {self.dataset_path!r}"
            )
        return None


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x and abs(x) != float("inf")


def _is_int(x, minimum: int) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= minimum


def _is_dims(dims) -> bool:
    return isinstance(dims, (tuple, list)) and len(dims) > 0 and all(_is_int(d, 1) for d in dims)


def _check_local_learner_gpu(config: SAWConfig) -> None:
    """A local learner (``num_learners=0``) asked for a GPU must find one in this process.

    Checked here rather than in ``validate()``: under Tune or on a cluster the config is validated
    on a driver that may have no GPU while the algorithm itself runs where one is.
    """
    if config.num_learners == 0 and config.num_gpus_per_learner > 0:
        import torch

        if not torch.cuda.is_available():
            raise ValueError(
                f"`num_gpus_per_learner` is {config.num_gpus_per_learner} but torch finds no CUDA GPU "
                f"here (torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); "
                "set it to 0 to train on the CPU, or install a CUDA build of torch"
            )


class SAW(Algorithm):
    """Offline goal-conditioned RL from an in-memory OGBench dataset with hindsight relabelling.

    Each ``training_step`` draws ``num_steps_per_iteration`` relabelled batches with
    ``GoalSampler`` and feeds them to ``learner_group.update`` as one numpy ``MultiAgentBatch``
    (split into ``train_batch_size_per_learner`` minibatches = gradient steps). ``evaluate()``
    runs OGBench's 5 evaluation tasks with the deterministic actor.
    """

    @classmethod
    @override(Algorithm)
    def get_default_config(cls) -> SAWConfig:
        return SAWConfig()

    @classmethod
    @override(Algorithm)
    def _should_create_evaluation_env_runners(cls, eval_config) -> bool:
        return False  # evaluate() runs its own goal-conditioned episodes

    @override(Algorithm)
    def setup(self, config: SAWConfig) -> None:
        _check_local_learner_gpu(config)
        super().setup(config)
        dataset = data.load(config.dataset_path)
        observations = dataset["observations"]
        env_shape = self.env_runner.module.observation_space.shape  # [obs; goal]
        if (2 * observations.shape[-1],) != env_shape:
            raise ValueError(
                f"`dataset_path` observations {observations.shape[1:]} do not match the env of "
                f"`dataset_name` {config.dataset_name!r} (goal-conditioned observations {env_shape})"
            )
        action_shape = self.env_runner.module.action_space.shape
        if dataset["actions"].shape[1:] != action_shape:
            raise ValueError(
                f"`dataset_path` actions {dataset['actions'].shape[1:]} do not match the env of "
                f"`dataset_name` {config.dataset_name!r} (actions {action_shape})"
            )
        self.goal_sampler = GoalSampler.for_config(dataset, config)
        row_bytes = 7 * observations[0].nbytes + dataset["actions"][0].nbytes + 8
        rows_per_step = config.train_batch_size_per_learner * max(1, config.num_learners)
        self._steps_per_update = max(1, UPDATE_BATCH_BYTES // (row_bytes * rows_per_step))
        self._num_grad_steps = 0
        self._sync_env_runner()

    @override(Algorithm)
    def training_step(self) -> None:
        batch_size = self.config.train_batch_size_per_learner
        rows_per_step = batch_size * max(1, self.config.num_learners)  # each learner gets its own batch
        remaining = self.config.num_steps_per_iteration
        start = time.perf_counter()
        while remaining:
            steps = min(remaining, self._steps_per_update)
            with self.metrics.log_time((TIMERS, "goal_sampling")):
                batch = self.goal_sampler.sample(steps * rows_per_step)
            results = self.learner_group.update(
                batch=MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(batch)}, env_steps=steps * rows_per_step),
                minibatch_size=batch_size,
                num_epochs=1,
                shuffle_batch_per_epoch=False,
                timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: (self._num_grad_steps + steps) * rows_per_step},
            )
            self.metrics.aggregate(results, key=LEARNER_RESULTS)
            self._num_grad_steps += steps
            remaining -= steps
        steps_per_s = self.config.num_steps_per_iteration / (time.perf_counter() - start)
        self.metrics.log_value(GRAD_STEPS_PER_S, steps_per_s, window=1)
        self.metrics.log_value(NUM_GRAD_STEPS_LIFETIME, self._num_grad_steps, reduce="max")
        self._sync_env_runner()

    def _sync_env_runner(self) -> None:
        """Copy the learner's actor into the local EnvRunner's (inference-only) module."""
        self.env_runner_group.sync_weights(from_worker_or_learner_group=self.learner_group, inference_only=True)

    def goal_conditioned_policy(self) -> MeanActionPolicy:
        """The current deterministic policy ``(obs [B,D], goals [B,D]) -> actions [B,A]``, picklable."""
        return MeanActionPolicy(self.env_runner.module.actor)

    @override(Algorithm)
    def evaluate(self, parallel_train_future=None) -> ResultDict:
        """Success rates on the dataset's 5 OGBench tasks; ``train()`` puts them under ``result["evaluation"]``.

        Keys: ``success`` (mean over tasks), ``task_1/success`` .. ``task_5/success``, ``episodes``.
        """
        from rllib_ext.saw.evaluation import evaluate_goal_conditioned

        return evaluate_goal_conditioned(
            self.goal_conditioned_policy(),
            self.config.dataset_name,
            episodes_per_task=self.config.evaluation_duration,
            seed=(self.config.seed or 0) + self.iteration,
            num_workers=self.config.eval_num_workers,
        )

    @override(Algorithm)
    def get_state(self, components=None, *, not_components=None, **kwargs) -> Dict:
        state = super().get_state(components, not_components=not_components, **kwargs)
        state["goal_sampler"] = self.goal_sampler.get_state()
        state[NUM_GRAD_STEPS_LIFETIME] = self._num_grad_steps
        return state

    @override(Algorithm)
    def set_state(self, state: Dict) -> None:
        super().set_state(state)
        if "goal_sampler" in state:
            self.goal_sampler.set_state(state["goal_sampler"])
            self._num_grad_steps = state[NUM_GRAD_STEPS_LIFETIME]


class GCIVLConfig(SAWConfig):
    """OGBench's GCIVL: SAW without subpolicy and bootstrapping, expectile 0.9, α = 10, no goal encoder."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or GCIVL)
        self.training(**presets.VARIANTS["gcivl"], variant="gcivl")


class GCIVL(SAW):
    @classmethod
    @override(SAW)
    def get_default_config(cls) -> GCIVLConfig:
        return GCIVLConfig()


class GCBCConfig(SAWConfig):
    """OGBench's GCBC: the flat actor alone, maximum likelihood towards future-state goals."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or GCBC)
        self.training(**presets.VARIANTS["gcbc"], variant="gcbc")


class GCBC(SAW):
    @classmethod
    @override(SAW)
    def get_default_config(cls) -> GCBCConfig:
        return GCBCConfig()

