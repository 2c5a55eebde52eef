"""The offline goal-conditioned family's shared config and algorithm: dataset, relabelling, training step, evaluation.

Each method (``saw.py``, ``gcivl.py``, ``gcbc.py``) subclasses ``GCRLConfig`` with its own hyperparameters
and ``GCRL`` with its own default config; everything else (what a ``train()`` does, evaluation, checkpoints)
lives here.

.. code-block:: python

    from rllib_ext.algorithms.gcrl import SAWConfig

    config = (
        SAWConfig()
        .training(dataset_path="data/pointmaze-medium-navigate-v0.npz")  # name from the file
        .preset("small")                 # the dataset's preset deltas, CPU size
        .training(num_steps_per_iteration=1000)
        .evaluation(evaluation_interval=10, evaluation_duration=20)      # episodes per task
        .debugging(seed=0)
    )
    algo = config.build_algo()
    result = algo.train()                # 1000 gradient steps; result["evaluation"]["success"]
    algo.save_to_path("/abs/ckpt")       # Algorithm.from_checkpoint("/abs/ckpt") resumes

The dataset is an OGBench ``.npz`` (rows ``(s_t, a_t)``, ``terminals`` on each episode's last row) named by
``dataset_path``, or a folder of one ``.npy`` per key (memory-mapped: ``envs.ogbench.dataset``);
``dataset_name`` defaults to the file name and picks the evaluation env and the presets. The family does not use
``config.offline_data(input_=...)``: relabelling needs whole trajectories in memory (``goal_sampler.py``).

Pixel datasets (``visual-*``: uint8 ``[rows, 64, 64, 3]`` observations) need an image ``encoder``
(``"impala_small"``, the official choice; ``encoders.py``); ``preset("paper")`` sets it with the rest of the
official pixel command line. Their batches travel as row indices and become images in each learner process
(``images.py``), with the official random-crop augmentation (``p_aug``) and optional ``frame_stack``.
"""

import os
import time
from typing import Any, Dict, List, Optional, Tuple

from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import LEARNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME, TIMERS
from ray.rllib.utils.typing import ResultDict

from envs.ogbench.dataset import KNOWN_DATASETS
from rllib_ext.algorithms.gcrl.common import dataset as datasets
from rllib_ext.algorithms.gcrl.common import presets
from rllib_ext.algorithms.gcrl.common.encoders import ENCODERS
from rllib_ext.algorithms.gcrl.common.evaluation import MeanActionPolicy, evaluate_goal_conditioned
from rllib_ext.algorithms.gcrl.common.goal_env import OGBenchGoalEnv
from rllib_ext.algorithms.gcrl.common.goal_sampler import GoalSampler
from rllib_ext.utils.metrics import GRAD_STEPS_PER_S, NUM_GRAD_STEPS_LIFETIME

UPDATE_BATCH_BYTES = 64 * 2**20
"""Upper bound on one ``learner_group.update`` batch; an iteration's steps are split to fit."""

Check = Tuple[str, bool, str]
"""``(setting, is valid, requirement)`` for ``GCRLConfig.validate``."""


def is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x and abs(x) != float("inf")


def is_int(x, minimum: int) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= minimum


def is_dims(dims) -> bool:
    return isinstance(dims, (tuple, list)) and len(dims) > 0 and all(is_int(d, 1) for d in dims)


class GCRLConfig(AlgorithmConfig):
    """Settings every offline goal-conditioned method shares; a method's config adds its own in ``__init__``.

    One ``train()`` runs ``num_steps_per_iteration`` gradient steps on batches of
    ``train_batch_size_per_learner``. Evaluation runs every ``evaluation_interval`` iterations with
    ``evaluation_duration`` episodes on each of the dataset's 5 OGBench tasks. ``training(**settings)`` sets any
    setting of the method's ``__init__`` (and any ``AlgorithmConfig.training`` setting); ``preset(name)``
    applies the dataset's deltas.
    """

    HIERARCHICAL = False
    """The method reads ``subgoal_steps`` (waypoints ``k`` steps ahead), which no episode may be shorter than."""

    PRESETS: Dict[str, Dict[str, Any]] = {}
    """The method's per-dataset deltas, by dataset pattern (``"cube"``, ``"cube-single"``, ``"stitch"``; ``presets.py``)."""

    PIXEL_PRESETS: Optional[Dict[str, Dict[str, Any]]] = None
    """The deltas on ``visual-*`` datasets, by the state twin's pattern, where they differ from ``PRESETS``."""

    PIXEL_SETTINGS: Dict[str, Any] = {}
    """What the method's official pixel command lines set beyond ``presets.PIXELS`` (every pixel dataset)."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class)
        # fmt: off
        self.dataset_path: Optional[str] = None  # OGBench-layout .npz (observations, actions, terminals)
        self.dataset_name: Optional[str] = None  # OGBench dataset name: eval env and presets (default: file name)
        self.num_steps_per_iteration = 1000  # gradient steps per train()
        self.lr = 3e-4  # Adam, one optimizer over all networks
        self.train_batch_size_per_learner = 1024  # rows per gradient step
        self.gamma = 0.99  # discount; also the geometric value-goal offsets, Geom(1 - gamma)
        self.value_p_curgoal = 0.2  # value goal = the current state
        self.value_p_trajgoal = 0.5  # value goal = a future state of the same trajectory
        self.value_p_randomgoal = 0.3  # value goal = a random dataset state
        self.actor_p_curgoal = 0.0  # actor goal = the current state
        self.actor_p_trajgoal = 1.0  # actor goal = a uniformly drawn future state of the same trajectory
        self.actor_p_randomgoal = 0.0  # actor goal = a random dataset state (stitch and explore datasets)
        self.subgoal_steps = 25  # k: the sampler's waypoint horizon (read by the hierarchical methods)
        self.actor_hidden_dims = (512, 512, 512)  # the flat goal-conditioned actor's MLP
        self.encoder = None  # image encoder: a name of encoders.ENCODERS ("impala_small"), or input_shape -> nn.Module
        self.p_aug = 0.0  # chance that a batch is augmented (a random crop per sample; pixel datasets)
        self.frame_stack: Optional[int] = None  # observations = the last n frames on the channel axis (None: off)
        self.eval_num_workers: Optional[int] = None  # processes for the evaluation (None: its default)
        self.evaluation_duration = 50  # episodes per evaluation task
        self.eval_max_episode_steps: Optional[int] = None  # cut evaluation episodes short (None: the env's limit)
        self.num_env_runners = 0  # learns from its dataset only
        self.torch_skip_nan_gradients = True  # no NaN scan of every gradient (the official code has none)
        # fmt: on

    @classmethod
    def settings(cls) -> frozenset:
        """Names of the settings this config adds to ``AlgorithmConfig``."""
        if "_settings" not in cls.__dict__:
            cls._settings = frozenset(vars(cls())) - frozenset(vars(AlgorithmConfig()))
        return cls._settings

    @override(AlgorithmConfig)
    def training(self, **kwargs) -> "GCRLConfig":
        """Sets the method's settings (see ``__init__``) and any ``AlgorithmConfig.training`` setting.

        ``dataset_path`` also sets ``dataset_name`` (the file name) unless given, and ``dataset_name`` sets the
        env to the dataset's ``OGBenchGoalEnv``.
        """
        own = {key: kwargs.pop(key) for key in list(kwargs) if key in self.settings()}
        super().training(**kwargs)
        for key, value in own.items():
            setattr(self, key, tuple(value) if key.endswith("_hidden_dims") else value)
        if "dataset_path" in own:
            self.dataset_path = os.path.abspath(os.path.expanduser(own["dataset_path"]))
            own.setdefault("dataset_name", os.path.basename(self.dataset_path).removesuffix(".npz"))
        if "dataset_name" in own:
            self.dataset_name = own["dataset_name"]
        if self.dataset_name is not None and ("dataset_name" in own or "frame_stack" in own):
            env_config = {"dataset_name": self.dataset_name}
            if self.frame_stack:
                env_config["frame_stack"] = self.frame_stack
            self.environment(env=OGBenchGoalEnv, env_config=env_config)
        return self

    def preset(self, name: str = "paper") -> "GCRLConfig":
        """Applies preset ``name`` (``paper`` or ``small``) for ``dataset_name``: only the settings it names change."""
        if self.dataset_name is None:
            raise ValueError("set `dataset_path` (or `dataset_name`) before `preset()`")
        settings = presets.deltas(self.dataset_name, name, self.PRESETS, self.PIXEL_PRESETS, self.PIXEL_SETTINGS)
        return self.training(**{k: v for k, v in settings.items() if hasattr(self, k)})

    @property
    def _model_config_auto_includes(self) -> Dict[str, Any]:
        return super()._model_config_auto_includes | {k: getattr(self, k) for k in self.settings()}

    def method_checks(self) -> List[Check]:
        """The method's own settings checks, in the order they are reported."""
        return []

    def method_error(self, dataset: Dict) -> Optional[str]:
        """A problem of the method's settings with each other or with the loaded ``dataset``, or None."""
        return None

    @override(AlgorithmConfig)
    def validate(self) -> None:
        super().validate()
        error = self._invalid_setting()
        if error:
            self._value_error(error)

    def _invalid_setting(self) -> Optional[str]:
        """The first invalid setting, described by its key, or None."""
        mixtures = [{f"{who}_p_{kind}goal": getattr(self, f"{who}_p_{kind}goal") for kind in ("cur", "traj", "random")}
                    for who in ("value", "actor")]
        probs = {**mixtures[0], **mixtures[1]}
        checks: List[Check] = [
            ("num_steps_per_iteration", is_int(self.num_steps_per_iteration, 1), ">= 1 (an integer)"),
            ("train_batch_size_per_learner", is_int(self.train_batch_size_per_learner, 1), ">= 1 (an integer)"),
            ("lr", not is_number(self.lr) or self.lr > 0, "> 0"),
            ("gamma", is_number(self.gamma) and 0 < self.gamma < 1, "in (0, 1)"),
            ("subgoal_steps", is_int(self.subgoal_steps, 1), ">= 1 (an integer)"),
            *self.method_checks(),
            ("encoder", self.encoder is None or callable(self.encoder) or self.encoder in ENCODERS,
             f"None, one of {sorted(ENCODERS)} or a callable input_shape -> nn.Module"),
            ("p_aug", is_number(self.p_aug) and 0 <= self.p_aug <= 1, "in [0, 1]"),
            ("frame_stack", self.frame_stack is None or is_int(self.frame_stack, 1), "None or >= 1 (an integer)"),
            ("eval_max_episode_steps", self.eval_max_episode_steps is None
             or is_int(self.eval_max_episode_steps, 1), "None or >= 1 (an integer)"),
            ("num_env_runners", self.num_env_runners == 0, "0 (the family learns from its dataset only)"),
            ("actor_hidden_dims", is_dims(self.actor_hidden_dims), "a non-empty sequence of positive integers"),
            *[(k, is_number(p) and 0 <= p <= 1, "in [0, 1]") for k, p in probs.items()],
        ]
        for key, ok, requirement in checks:
            if not ok:
                return f"`{key}` must be {requirement}, got {getattr(self, key)!r}"
        for mixture in mixtures:
            if abs(sum(mixture.values()) - 1) > 1e-6:
                return f"{' + '.join(f'`{k}`' for k in mixture)} must be 1, got {mixture}"
        if self.evaluation_interval and self.evaluation_duration_unit != "episodes":
            return "`evaluation_duration_unit` must be 'episodes' (episodes per evaluation task)"
        if self.evaluation_interval and not is_int(self.evaluation_duration, 1):
            return f"`evaluation_duration` (episodes per task) must be >= 1, got {self.evaluation_duration!r}"
        if self.dataset_path is None:
            return "`dataset_path` is not set: the method trains from an OGBench .npz (config.training(dataset_path=...))"
        if self.dataset_name not in KNOWN_DATASETS:
            return f"`dataset_name` {self.dataset_name!r} is not an OGBench dataset name (e.g. 'pointmaze-medium-navigate-v0')"
        pixels = self.dataset_name.startswith("visual-")
        if pixels and self.encoder is None:
            return (f"`encoder` is None, but `dataset_name` {self.dataset_name!r} has image observations: set "
                    "encoder='impala_small' (the official choice; preset('paper') sets it)")
        try:
            dataset = datasets.load(self.dataset_path)
        except (OSError, ValueError) as e:
            return f"`dataset_path` cannot be used: {e}"
        if pixels != (dataset["observations"].ndim == 4):
            return (f"`dataset_path` {self.dataset_path!r} holds {'images' if not pixels else 'state vectors'} "
                    f"{dataset['observations'].shape[1:]}, but `dataset_name` {self.dataset_name!r} is a "
                    f"{'pixel' if pixels else 'state-based'} dataset")
        if self.p_aug > 0 and not pixels:
            return f"`p_aug` ({self.p_aug}) augments images, but {self.dataset_name!r} has state observations"
        if self.HIERARCHICAL and self.subgoal_steps > datasets.shortest_episode(dataset):
            return (f"`subgoal_steps` ({self.subgoal_steps}) is larger than the shortest episode "
                    f"({datasets.shortest_episode(dataset)} transitions) of {self.dataset_path!r}")
        return self.method_error(dataset)


def _check_local_learner_gpu(config: GCRLConfig) -> None:
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


class GCRL(Algorithm):
    """Offline goal-conditioned RL from an in-memory OGBench dataset with hindsight relabelling.

    Each ``training_step`` draws ``num_steps_per_iteration`` relabelled batches with ``GoalSampler`` and feeds
    them to ``learner_group.update`` as one numpy ``MultiAgentBatch`` (split into
    ``train_batch_size_per_learner`` minibatches = gradient steps). ``evaluate()`` runs OGBench's 5 evaluation
    tasks with the deterministic actor.
    """

    @classmethod
    @override(Algorithm)
    def _should_create_evaluation_env_runners(cls, eval_config) -> bool:
        return False  # evaluate() runs its own goal-conditioned episodes

    @override(Algorithm)
    def setup(self, config: GCRLConfig) -> None:
        _check_local_learner_gpu(config)
        super().setup(config)
        dataset = datasets.load(config.dataset_path)
        observations = dataset["observations"]
        env_shape = self.env_runner.module.observation_space.shape  # [obs; goal]
        stack = config.frame_stack or 1
        if (*observations.shape[1:-1], 2 * stack * observations.shape[-1]) != env_shape:
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
        self._index_batches = datasets.uses_index_batches(dataset, config)
        row_bytes = 7 * stack * observations[0].nbytes + dataset["actions"][0].nbytes + 8
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
                sample = self.goal_sampler.sample_rows if self._index_batches else self.goal_sampler.sample
                batch = sample(steps * rows_per_step)
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

    def evaluate_tasks(self, episodes_per_task: int, seed: int, num_workers: Optional[int] = None) -> ResultDict:
        """Success rates of the current policy on the dataset's 5 OGBench tasks (``evaluate_goal_conditioned``)."""
        return evaluate_goal_conditioned(self.goal_conditioned_policy(), self.config.dataset_name,
                                         episodes_per_task=episodes_per_task, seed=seed, num_workers=num_workers,
                                         frame_stack=self.config.frame_stack,
                                         max_episode_steps=self.config.eval_max_episode_steps)

    @override(Algorithm)
    def evaluate(self, parallel_train_future=None) -> ResultDict:
        """Success rates on the dataset's 5 OGBench tasks; ``train()`` puts them under ``result["evaluation"]``.

        Keys: ``success`` (mean over tasks), ``task_1/success`` .. ``task_5/success``, ``episodes``.
        """
        return self.evaluate_tasks(self.config.evaluation_duration, (self.config.seed or 0) + self.iteration,
                                   self.config.eval_num_workers)

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
