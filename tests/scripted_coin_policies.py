"""Vectorised scripted policies for `BatchedCoinGame`: test helpers for the official code's scripted reference levels.

Every policy takes the batched game and a `np.random.Generator` and returns int actions `[B, N]`.
Moves follow a shortest torus path; when both the row and the column offset are non-zero the axis is
chosen at random, and on an even grid an offset of exactly half the grid is walked in the + direction.
"""

from __future__ import annotations

import numpy as np

from envs.games.coin_game import BatchedCoinGame

RIGHT, LEFT, DOWN, UP, STAY = range(5)


def torus_offset(src: np.ndarray, dst: np.ndarray, grid_size: int) -> np.ndarray:
    """Signed shortest offset from `src` to `dst` per coordinate, in (-grid_size/2, grid_size/2]."""
    d = (dst - src) % grid_size
    return np.where(d > grid_size // 2, d - grid_size, d)


def step_towards(offset: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Action reducing a (row, col) `offset [..., 2]` by one cell; STAY when it is zero."""
    d_row, d_col = offset[..., 0], offset[..., 1]
    use_row = (d_row != 0) & ((d_col == 0) | (rng.random(d_row.shape) < 0.5))
    col_action = np.where(d_col > 0, RIGHT, np.where(d_col < 0, LEFT, STAY))
    return np.where(use_row, np.where(d_row > 0, DOWN, UP), col_action)


def random_policy(game: BatchedCoinGame, rng: np.random.Generator) -> np.ndarray:
    """Uniformly random actions."""
    return rng.integers(0, game.num_actions, size=(game.num_games, game.num_players))


def own_coin_policy(game: BatchedCoinGame, rng: np.random.Generator) -> np.ndarray:
    """Every player walks to its own coin, ignoring the others."""
    return step_towards(torus_offset(game.agent_pos, game.coin_pos, game.grid_size), rng)


def greedy_policy(game: BatchedCoinGame, rng: np.random.Generator) -> np.ndarray:
    """Every player walks to the nearest coin of any colour (torus Manhattan distance, ties at random)."""
    offsets = torus_offset(game.agent_pos[:, :, None], game.coin_pos[:, None], game.grid_size)
    distance = np.abs(offsets).sum(axis=-1) + rng.random(offsets.shape[:-1])
    target = distance.argmin(axis=-1)
    return step_towards(np.take_along_axis(offsets, target[..., None, None], axis=2)[:, :, 0], rng)


def own_vs_greedy_policy(game: BatchedCoinGame, rng: np.random.Generator) -> np.ndarray:
    """Player 0 walks to its own coin, every other player is greedy."""
    actions = greedy_policy(game, rng)
    actions[:, 0] = own_coin_policy(game, rng)[:, 0]
    return actions
