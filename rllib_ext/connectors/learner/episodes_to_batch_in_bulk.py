"""PPO's train batch from whole, equal-length episodes, built with array operations.

RLlib's learner pipeline turns episodes into a train batch with one piece per concern
(``AddOneTsToEpisodesAndTruncate`` -> ``AddObservationsFromEpisodesToBatch`` ->
``AddColumnsFromEpisodesToTrainBatch`` -> ``AddTimeDimToBatchAndZeroPad`` ->
``AddStatesFromEpisodesToBatch`` -> ``AgentToModuleMapping`` -> ``BatchIndividualItems``), each
visiting every agent episode, and often every step, in Python. For the batched games every
episode of a batch is whole and of the same length, so the same batch is a stack of the episodes'
buffers plus a few constant columns. ``EpisodesToBatchInBulk`` stands in for those pieces: when the
episodes qualify (``bulk_layout``) it writes exactly the columns, values, dtypes and layout the stock
pieces would (a test compares them), and otherwise it runs the stock pieces it replaced.

What the stock pieces produce per module, for episodes of length ``L`` (the last step repeated
once as PPO's bootstrap step, masked out of the loss):

- ``obs`` the ``L + 1`` observations; ``actions`` and every extra model output (``action_logp``,
  ``action_dist_inputs``, ...) with the last step repeated; ``rewards`` with a 0 appended;
- ``loss_mask`` True for the ``L`` real steps; ``terminateds`` / ``truncateds`` set at step ``L - 1``
  from the episode's flags (an episode that is not done counts as truncated);
- flat ``[B * (L + 1), ...]`` rows for stateless modules; for recurrent ones ``[B, max_seq_len, ...]``
  zero-padded sequences (one per episode), ``seq_lens`` and ``state_in`` = the initial state.
"""

from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import tree
from ray.rllib.connectors.connector_pipeline_v2 import ConnectorPipelineV2
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
from ray.rllib.utils.numpy import convert_to_numpy

LOSS_MASK_ADDED = "_added_loss_mask_for_valid_episode_ts"
"""The ``shared_data`` flag RLlib's ``AddOneTsToEpisodesAndTruncate`` sets."""
EPISODE_LENS = "bulk_episode_lens"
"""``shared_data`` key: ``{module_id: [len + 1 per episode]}``, the episode lengths (with PPO's extra
step) that later pieces would otherwise read from the extended episodes."""
_SKIP_COLUMNS = {Columns.STATE_IN, Columns.STATE_OUT, Columns.INFOS}


def buffer_data(buffer) -> Optional[np.ndarray]:
    """The numpy contents of an episode buffer without lookback, else None."""
    data = getattr(buffer, "data", None)
    if getattr(buffer, "lookback", 1) != 0 or not isinstance(data, np.ndarray):
        return None
    return data


def bulk_layout(rl_module, episodes) -> Optional[Dict[str, List[Any]]]:
    """``{module_id: [single-agent episode per multi-agent episode]}`` if the episodes can be batched
    in bulk, else None.

    Qualify: multi-agent episodes that start at t=0, with every agent mapped to a module of its own,
    numpy buffers without lookback, the same length and the same extra model outputs within a
    module, and (for recurrent modules) episodes that fit one sequence of ``max_seq_len``.
    """
    if not episodes or not all(isinstance(ep, MultiAgentEpisode) for ep in episodes):
        return None
    first = episodes[0].agent_episodes
    modules = {aid: sa.module_id for aid, sa in first.items()}
    if None in modules.values() or len(set(modules.values())) != len(modules):
        return None
    if any(mid not in rl_module for mid in modules.values()):
        return None
    layout: Dict[str, List[Any]] = {mid: [] for mid in modules.values()}
    for ep in episodes:
        if ep.env_t_started != 0 or ep.agent_episodes.keys() != first.keys():
            return None
        for aid, sa in ep.agent_episodes.items():
            if sa.module_id != modules[aid] or sa.t_started != 0 or not sa.is_numpy:
                return None
            layout[sa.module_id].append(sa)
    for mid, sas in layout.items():
        length, keys = len(sas[0]), set(sas[0].extra_model_outputs)
        if length == 0:
            return None
        for sa in sas:
            buffers = [sa.observations, sa.actions, sa.rewards, *sa.extra_model_outputs.values()]
            if len(sa) != length or set(sa.extra_model_outputs) != keys or any(buffer_data(b) is None for b in buffers):
                return None
        module = rl_module[mid].unwrapped()
        if module.is_stateful() and length + 1 > module.model_config.get("max_seq_len", 0):
            return None
    return layout


def _with_last_repeated(x: np.ndarray) -> np.ndarray:
    """``[B, L, ...]`` -> ``[B, L + 1, ...]`` with step ``L - 1`` repeated."""
    return np.concatenate([x, x[:, -1:]], axis=1)


def module_batch(module, episodes: Sequence[Any]) -> Dict[str, Any]:
    """The train batch of one module from its episodes (all of one length ``L``, see ``bulk_layout``)."""
    B, L = len(episodes), len(episodes[0])
    rewards = np.stack([buffer_data(sa.rewards) for sa in episodes])
    # The stock pieces append a Python 0.0 to every episode's rewards, which batches as float64.
    rewards = rewards.astype(np.promote_types(rewards.dtype, np.float64))
    batch: Dict[str, Any] = {
        Columns.OBS: np.stack([buffer_data(sa.observations)[: L + 1] for sa in episodes]),
        Columns.ACTIONS: _with_last_repeated(np.stack([buffer_data(sa.actions) for sa in episodes])),
        Columns.REWARDS: np.concatenate([rewards, np.zeros((B, 1), rewards.dtype)], axis=1),
    }
    loss_mask = np.ones((B, L + 1), bool)
    loss_mask[:, -1] = False
    terminateds = np.zeros((B, L + 1), bool)
    truncateds = np.zeros((B, L + 1), bool)
    terminateds[:, L - 1] = [sa.is_terminated for sa in episodes]
    truncateds[:, L - 1] = [sa.is_truncated or not sa.is_done for sa in episodes]
    batch.update({Columns.LOSS_MASK: loss_mask, Columns.TERMINATEDS: terminateds, Columns.TRUNCATEDS: truncateds})
    for column in episodes[0].extra_model_outputs:
        if column not in _SKIP_COLUMNS and column not in batch:
            stacked = np.stack([buffer_data(sa.extra_model_outputs[column]) for sa in episodes])
            batch[column] = _with_last_repeated(stacked)
    if not module.is_stateful():
        return {k: v.reshape(B * (L + 1), *v.shape[2:]) for k, v in batch.items()}
    pad = module.model_config["max_seq_len"] - (L + 1)
    if pad:
        batch = {k: np.concatenate([v, np.zeros((B, pad, *v.shape[2:]), v.dtype)], axis=1) for k, v in batch.items()}
    batch[Columns.SEQ_LENS] = np.full(B, L + 1, np.int64)
    initial = convert_to_numpy(module.get_initial_state())
    batch[Columns.STATE_IN] = tree.map_structure(lambda s: np.repeat(np.asarray(s)[None], B, axis=0), initial)
    return batch


class EpisodesToBatchInBulk(ConnectorV2):
    """Learner connector piece: PPO's episodes-to-batch pieces at once for whole, equal-length episodes.

    Args:
        stock_pieces: the RLlib pieces it replaces, in order; they run instead whenever the episodes
            do not qualify (``bulk_layout``) or the batch already holds data.
    """

    def __init__(self, input_observation_space=None, input_action_space=None, *, stock_pieces, **kwargs):
        super().__init__(input_observation_space, input_action_space, **kwargs)
        self.stock = ConnectorPipelineV2(connectors=list(stock_pieces))

    def __call__(self, *, rl_module, batch, episodes, explore=None, shared_data=None, metrics=None, **kwargs):
        layout = None if batch else bulk_layout(rl_module, episodes)
        if layout is None:
            return self.stock(rl_module=rl_module, batch=batch, episodes=episodes, explore=explore,
                              shared_data=shared_data, metrics=metrics, **kwargs)
        for mid, sas in layout.items():
            module = rl_module[mid].unwrapped()
            batch[mid] = module_batch(module, sas)
            if module.is_stateful():
                shared_data[f"_zero_padded_for_mid={mid}"] = True
        shared_data[LOSS_MASK_ADDED] = True
        shared_data[EPISODE_LENS] = {mid: [len(sas[0]) + 1] * len(sas) for mid, sas in layout.items()}
        return batch
