"""Monte-Carlo returns normalised over the batch: the official Reciprocator code's PPO targets.

The official Reciprocator and naive learners compute discounted returns inside each
fixed-length episode (no bootstrapping), standardise them over the whole batch, train the
critic on the standardised returns and use ``A = G_norm - V(s)`` as the advantage (not
standardised again). This piece replaces RLlib's ``GeneralAdvantageEstimation`` at the end of
PPO's learner pipeline to do exactly that.
"""

import numpy as np
import torch
from ray.rllib.connectors.common.numpy_to_tensor import NumpyToTensor
from ray.rllib.connectors.learner.general_advantage_estimation import GeneralAdvantageEstimation
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.evaluation.postprocessing import Postprocessing
from ray.rllib.utils.numpy import convert_to_numpy
from ray.rllib.utils.postprocessing.value_predictions import compute_value_targets
from ray.rllib.utils.postprocessing.zero_padding import split_and_zero_pad_n_episodes, unpad_data_if_necessary

from rllib_ext.connectors.learner.episodes_to_batch_in_bulk import EPISODE_LENS


def _uniform(lens) -> bool:
    return len(lens) > 0 and all(n == lens[0] for n in lens)


def _unpad(lens, data: np.ndarray) -> np.ndarray:
    """``unpad_data_if_necessary``, as a slice when every episode fits one padded sequence of the same length."""
    if data.ndim >= 2 and data.shape[0] == len(lens) and _uniform(lens) and lens[0] <= data.shape[1]:
        return data[:, : lens[0]].reshape(-1, *data.shape[2:])
    return unpad_data_if_necessary(lens, data)


def _split_and_zero_pad(x: np.ndarray, lens, max_seq_len: int) -> np.ndarray:
    """``split_and_zero_pad_n_episodes`` stacked, as a reshape when every episode fits one sequence."""
    if _uniform(lens) and lens[0] <= max_seq_len and x.shape[0] == len(lens) * lens[0]:
        x = x.reshape(len(lens), lens[0], *x.shape[1:])
        return np.concatenate([x, np.zeros((len(lens), max_seq_len - lens[0], *x.shape[2:]), x.dtype)], axis=1)
    return np.stack(split_and_zero_pad_n_episodes(x, episode_lens=lens, max_seq_len=max_seq_len))


def discounted_returns(rewards, terminateds, truncateds, gamma: float, lens) -> np.ndarray:
    """RLlib's ``compute_value_targets`` with zero values (each step's discounted return inside its
    episode), the same numbers to the bit; over the columns of a ``[episodes, length]`` view when every
    episode has one length and ends the recursion (RLlib's loop visits every row in Python: 30 ms for
    one IPD batch)."""
    rewards = np.asarray(rewards)
    propagate = (1.0 - np.asarray(terminateds)) * (1.0 - np.asarray(truncateds))
    n = len(lens)
    if _uniform(lens) and rewards.shape == (n * lens[0],) and not propagate[lens[0] - 1 :: lens[0]].any():
        r, p = rewards.reshape(n, lens[0]), propagate.reshape(n, lens[0])
        returns, running = np.zeros(r.shape, np.float32), np.zeros(n)
        for t in reversed(range(lens[0])):
            running = r[:, t] + gamma * p[:, t] * running
            returns[:, t] = running
        return returns.reshape(-1)
    return compute_value_targets(values=np.zeros(rewards.shape, np.float32), rewards=rewards,
                                 terminateds=terminateds, truncateds=truncateds, gamma=gamma, lambda_=1.0)


def normalized_returns(returns: np.ndarray, mask: np.ndarray, eps: float = 1e-5, center: bool = True) -> np.ndarray:
    """``(G - mean) / (std + eps)`` with mean and std over the rows where ``mask`` is true; ``G / (std + eps)``
    without ``center``. The std is the sample std (``ddof=1``), torch's ``Tensor.std`` as in the official code."""
    valid = returns[mask]
    return (returns - (valid.mean() if center else 0.0)) / (valid.std(ddof=1) + eps)


class NormalizedMonteCarloReturns(GeneralAdvantageEstimation):
    """Value targets = batch-standardised Monte-Carlo returns (only scaled without ``center``);
    advantages = targets - V(s)."""

    def __init__(self, input_observation_space=None, input_action_space=None, *, gamma, center: bool = True):
        super().__init__(input_observation_space, input_action_space, gamma=gamma, lambda_=1.0)
        self.center = center

    def __call__(self, *, rl_module, episodes, batch, shared_data=None, **kwargs):
        device, results = None, {}
        bulk_lens = (shared_data or {}).get(EPISODE_LENS, {})
        for module_id, module_batch in batch.items():
            module = rl_module[module_id].unwrapped()  # DDP-wrapped with several learners
            if not isinstance(module, ValueFunctionAPI):
                continue
            with torch.no_grad():
                values_t = module.compute_values(module_batch)
            device = values_t.device
            lens = bulk_lens.get(module_id)
            if lens is None:
                lens = [len(e) for e in self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False)
                        if e.module_id in (None, module_id)]

            def column(col):
                return _unpad(lens, convert_to_numpy(module_batch[col]))

            values = _unpad(lens, convert_to_numpy(values_t))
            returns = discounted_returns(  # no bootstrapping: the games end
                column(Columns.REWARDS), column(Columns.TERMINATEDS), column(Columns.TRUNCATEDS), self.gamma, lens)
            targets = normalized_returns(returns, column(Columns.LOSS_MASK).astype(bool), center=self.center)
            advantages = targets - values
            if module.is_stateful():
                seq = module.model_config["max_seq_len"]
                targets, advantages = (_split_and_zero_pad(x, lens, seq) for x in (targets, advantages))
            results[module_id] = {Postprocessing.VALUE_TARGETS: targets.astype(np.float32),
                                  Postprocessing.ADVANTAGES: advantages.astype(np.float32)}
        if self._numpy_to_tensor_connector is None:
            self._numpy_to_tensor_connector = NumpyToTensor(as_learner_connector=True, device=device)
        for module_id, tensors in self._numpy_to_tensor_connector(
            rl_module=rl_module, batch=results, episodes=episodes
        ).items():
            batch[module_id].update(tensors)
        return batch
