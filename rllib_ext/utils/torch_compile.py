"""``torch_compile_learner`` for the package's torch learners on RLlib's new API stack.

RLlib 2.60's ``TorchLearner.build`` tests the ``MultiRLModule``'s type where it means each
submodule's, so with ``torch_compile_learner=True`` (what to compile: ``forward_train``) it compiles
nothing. The SAW and Reciprocator learners call :func:`compile_forward_train` after their build.
"""

from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.core.rl_module.torch import TorchRLModule


def compile_forward_train(learner: TorchLearner) -> None:
    """Compile each torch module's forward passes with the learner's compile settings, if asked to."""
    if not learner._torch_compile_forward_train:
        return
    for module_id in learner.module.keys():
        module = learner.module[module_id].unwrapped()
        if isinstance(module, TorchRLModule):
            module.compile(learner._torch_compile_cfg)
