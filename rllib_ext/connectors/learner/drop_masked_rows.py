"""Drop the rows PPO's loss mask excludes, once the targets are computed."""

import tree
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns


class DropMaskedRows(ConnectorV2):
    """Last learner piece: removes the rows ``loss_mask`` excludes from stateless modules' batches.

    PPO's artificial step at the end of each episode is needed for the targets only; once they
    are in the batch its rows carry no loss. Without them PPO's loss takes plain means instead of
    boolean-indexed masked means (the same values; the largest op of an IPD update), and a
    minibatch of ``games x steps`` rows is one full-batch epoch, as in the official code (with
    the extra rows RLlib's cyclic minibatches made 11 steps of 10 epochs). Recurrent modules keep
    their zero-padded sequences and mask.
    """

    def __call__(self, *, rl_module, batch, episodes, **kwargs):
        for module_id, module_batch in batch.items():
            mask = module_batch.get(Columns.LOSS_MASK)
            if mask is None or rl_module[module_id].unwrapped().is_stateful():
                continue
            del module_batch[Columns.LOSS_MASK]
            for column, data in module_batch.items():
                module_batch[column] = tree.map_structure(lambda x: x[mask], data)
        return batch
