"""N-player Coin Game as in the official Reciprocator code (`src/environments/coin_game.py`).

Two versions of the same game: `CoinGame`, a PettingZoo `ParallelEnv` playing one game, and
`BatchedCoinGame`, which steps many games at once with numpy. `coin_game_metrics` summarises whole episodes.

Rules (the official code's, quirks included):

- Toroidal `grid_size x grid_size` grid; actions 0..4 = RIGHT (0,+1), LEFT (0,-1), DOWN (+1,0), UP (-1,0),
  STAY in (row, col); moves wrap around.
- N agents and N coins, coin j belongs to player j; all N coins are always on the board.
- Every agent standing on a coin after the move (staying on it counts) gets +1 for it, own or not.
  For every agent i != j on coin j, owner j gets -N/(N-1) (-2 for 2 players, -1.5 for 3): several
  pickers of one coin charge its owner once per other picker.
- Collected coins respawn at uniformly random cells, which may hold an agent or another coin; initial
  agent and coin cells are independent uniform draws (overlaps allowed).
- Observation: one-hot `(2N, H, W)`, channels 0..N-1 agent positions and N..2N-1 coin positions, in
  player-0 order. Player i gets that tensor with its channels rolled by -2i (`np.roll(x, -2 * i, axis=0)`).
  This is the official code's fixed permutation, NOT an "own channel first" view: for N = 2, player 1
  sees `[coin0, coin1, agent0, agent1]`. Seats are therefore not interchangeable under one shared policy.
- Episodes last exactly `num_steps`; at the last step every agent is terminated (the game is over, so
  no value bootstrapping, as in the official code), never truncated.

Randomness: one `np.random.Generator`. Reset draws agent cells, then coin cells, each as
`integers(0, H*W, size=(B, N))`; every step draws `integers(0, H*W, size=(B, N))` respawn cells whether or
not a coin was collected. The reference draws the same numbers with `size=(N,)`, so `BatchedCoinGame`
with one game and seed s follows exactly the trajectory of `CoinGame` reset with seed s.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

MOVES = np.array([[0, 1], [0, -1], [1, 0], [-1, 0], [0, 0]], dtype=np.int64)
"""`MOVES[action] = (d_row, d_col)`."""


def owner_penalty(num_players: int) -> float:
    """Reward of a coin's owner each time another player picks the coin up: -N/(N-1)."""
    return -num_players / (num_players - 1)


def _check_params(num_players: int, grid_size: int, num_steps: int) -> None:
    for name, value, minimum in (
        ("num_players", num_players, 2),
        ("grid_size", grid_size, 2),
        ("num_steps", num_steps, 1),
    ):
        if value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _agent_ids(num_players: int) -> list[str]:
    return [f"player_{i}" for i in range(num_players)]


def _obs_shape(num_players: int, grid_size: int, flat_obs: bool) -> tuple[int, ...]:
    shape = (2 * num_players, grid_size, grid_size)
    return (int(np.prod(shape)),) if flat_obs else shape


def _observation_space(num_players: int, grid_size: int, flat_obs: bool) -> spaces.Box:
    return spaces.Box(0.0, 1.0, _obs_shape(num_players, grid_size, flat_obs), dtype=np.float32)


class CoinGame(ParallelEnv):
    """One N-player Coin Game (rules in the module docstring), written for clarity rather than speed.

    State, readable and writable between steps: `agent_pos` and `coin_pos`, int arrays `[N, 2]` of
    (row, col). `infos[player_i]["pickups"]` is an int array of length N: 1 at j if player i picked up
    player j's coin this step.
    """

    metadata = {"name": "coin_game_v0", "render_modes": []}

    def __init__(
        self, num_players: int = 2, grid_size: int = 3, num_steps: int = 32, flat_obs: bool = False
    ) -> None:
        _check_params(num_players, grid_size, num_steps)
        self.num_players = num_players
        self.grid_size = grid_size
        self.num_steps = num_steps
        self.flat_obs = flat_obs
        self.possible_agents = _agent_ids(num_players)
        self.agents: list[str] = []
        self.t = 0
        self.agent_pos = np.zeros((num_players, 2), dtype=np.int64)
        self.coin_pos = np.zeros((num_players, 2), dtype=np.int64)
        self._rng = np.random.default_rng()
        self._observation_spaces = {
            a: _observation_space(num_players, grid_size, flat_obs) for a in self.possible_agents
        }
        self._action_spaces = {a: spaces.Discrete(len(MOVES)) for a in self.possible_agents}

    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._action_spaces[agent]

    def reset(
        self, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        """Start an episode; a `seed` re-seeds the generator. `options` is ignored."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self.t = 0
        self.agent_pos = self._random_cells()
        self.coin_pos = self._random_cells()
        return self._observe(), {a: {} for a in self.agents}

    def step(self, actions: Mapping[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        """Move every agent, pay for coins picked up, respawn them; `actions` maps every agent id to 0..4."""
        if not self.agents:
            raise RuntimeError("the episode is over (or was never started); call reset()")
        n = self.num_players
        for agent in self.agents:
            if not self._action_spaces[agent].contains(actions[agent]):
                raise ValueError(f"invalid action {actions[agent]!r} for {agent}")
        moves = MOVES[[int(actions[agent]) for agent in self.agents]]
        self.agent_pos = (self.agent_pos + moves) % self.grid_size

        pickups = np.zeros((n, n), dtype=np.int32)
        for i in range(n):
            for j in range(n):
                pickups[i, j] = np.array_equal(self.agent_pos[i], self.coin_pos[j])
        rewards = pickups.sum(axis=1).astype(np.float64)
        for j in range(n):
            other_pickers = pickups[:, j].sum() - pickups[j, j]
            rewards[j] += owner_penalty(n) * other_pickers

        respawn = self._random_cells()
        collected = pickups.any(axis=0)
        self.coin_pos = np.where(collected[:, None], respawn, self.coin_pos)

        self.t += 1
        done = self.t >= self.num_steps
        obs = self._observe()
        agents = self.agents
        if done:
            self.agents = []
        return (
            obs,
            {a: float(rewards[i]) for i, a in enumerate(agents)},
            {a: done for a in agents},
            {a: False for a in agents},
            {a: {"pickups": pickups[i]} for i, a in enumerate(agents)},
        )

    def _random_cells(self) -> np.ndarray:
        cells = self._rng.integers(0, self.grid_size**2, size=(self.num_players,))
        return np.stack(np.divmod(cells, self.grid_size), axis=-1)

    def _observe(self) -> dict[str, np.ndarray]:
        n = self.num_players
        state = np.zeros((2 * n, self.grid_size, self.grid_size), dtype=np.float32)
        for i, (row, col) in enumerate(self.agent_pos):
            state[i, row, col] = 1.0
        for j, (row, col) in enumerate(self.coin_pos):
            state[n + j, row, col] = 1.0
        views = {a: np.roll(state, -2 * i, axis=0) for i, a in enumerate(self.possible_agents)}
        if self.flat_obs:
            return {a: v.reshape(-1) for a, v in views.items()}
        return views


class BatchedCoinGame:
    """`num_games` Coin Games stepped together with numpy; same rules, spaces and random draws as `CoinGame`.

    `reset` returns observations `[B, N, *obs_shape]` float32 (`obs[b, i]` is player i's view). `step` takes
    int actions `[B, N]` and returns `(obs, rewards [B, N] float32, {"pickups": [B, N, N] int32})`,
    where `pickups[b, i, j] = 1` if player i picked up player j's coin in game b. All games start and end
    together; after `num_steps` steps `step` raises until `reset` is called.

    State: `agent_pos` and `coin_pos`, int arrays `[B, N, 2]` of (row, col). Both are writable views of
    the current state (edits or assignments take effect on the next step); each step replaces the
    underlying arrays, so a view kept from before a step keeps showing the old positions.
    """

    def __init__(
        self,
        num_games: int,
        num_players: int = 2,
        grid_size: int = 3,
        num_steps: int = 32,
        flat_obs: bool = False,
        seed: int | None = None,
    ) -> None:
        if num_games < 1:
            raise ValueError(f"num_games must be >= 1, got {num_games}")
        _check_params(num_players, grid_size, num_steps)
        n, g = num_players, grid_size
        self.num_games = num_games
        self.num_players = n
        self.grid_size = g
        self.agents = _agent_ids(n)
        self.num_steps = num_steps
        self.num_actions = len(MOVES)
        self.flat_obs = flat_obs
        self.obs_shape = _obs_shape(n, g, flat_obs)
        self.t = 0
        self._needs_reset = True
        self._rng = np.random.default_rng(seed)
        self._observation_space = _observation_space(n, g, flat_obs)
        self._action_space = spaces.Discrete(len(MOVES))
        self._penalty = owner_penalty(n)
        # Positions are stored as [2 (row, col), N, B] so that every per-step op runs along the games axis.
        self._agent_rc = np.zeros((2, n, num_games), dtype=np.int64)
        self._coin_rc = np.zeros((2, n, num_games), dtype=np.int64)

        rows, cols = np.divmod(np.arange(g * g)[:, None], g)
        self._next_cell = (rows + MOVES[:, 0]) % g * g + (cols + MOVES[:, 1]) % g
        # Entity e (agents, then coins) sits in channel (e - 2i) mod 2N of player i's view: the -2i roll.
        channel = (np.arange(2 * n)[None, :] - 2 * np.arange(n)[:, None]) % (2 * n)
        view = np.arange(n)[:, None, None] + n * np.arange(num_games)[None, None, :]
        offsets = (view * 2 * n + channel[:, :, None]) * g * g
        self._agent_obs_offsets = offsets[:, :n]
        self._coin_obs_offsets = offsets[:, n:]

    @property
    def agent_pos(self) -> np.ndarray:
        """Agent positions `[B, N, 2]` (row, col)."""
        return self._agent_rc.transpose(2, 1, 0)

    @agent_pos.setter
    def agent_pos(self, value: np.ndarray) -> None:
        self._agent_rc = self._from_positions(value)

    @property
    def coin_pos(self) -> np.ndarray:
        """Coin positions `[B, N, 2]` (row, col); coin j belongs to player j."""
        return self._coin_rc.transpose(2, 1, 0)

    @coin_pos.setter
    def coin_pos(self, value: np.ndarray) -> None:
        self._coin_rc = self._from_positions(value)

    def observation_space(self) -> spaces.Box:
        return self._observation_space

    def action_space(self) -> spaces.Discrete:
        return self._action_space

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Start new episodes in all games (a `seed` re-seeds the generator); returns observations."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        agent_cells = self._random_cells()
        coin_cells = self._random_cells()
        self._agent_rc = self._to_rc(agent_cells)
        self._coin_rc = self._to_rc(coin_cells)
        self.t = 0
        self._needs_reset = False
        return self._observe(agent_cells, coin_cells)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Move, pay and respawn in every game; `actions` is an int array `[B, N]` of 0..4."""
        if self._needs_reset:
            raise RuntimeError(f"all {self.num_steps} steps were played (or no reset yet); call reset()")
        actions = np.asarray(actions)
        if actions.shape != (self.num_games, self.num_players):
            raise ValueError(
                f"actions must have shape {(self.num_games, self.num_players)}, got {actions.shape}"
            )
        if actions.dtype.kind not in "iu" or actions.min() < 0 or actions.max() >= len(MOVES):
            raise ValueError(f"actions must be integers in [0, {len(MOVES)})")
        n, g = self.num_players, self.grid_size
        agent_cells = self._next_cell[self._agent_rc[0] * g + self._agent_rc[1], actions.T]
        coin_cells = self._coin_rc[0] * g + self._coin_rc[1]
        pickups = agent_cells[:, None, :] == coin_cells[None, :, :]
        pickers = pickups.sum(axis=0)
        own = pickups.reshape(n * n, -1)[:: n + 1]
        rewards = pickups.sum(axis=1) + self._penalty * (pickers - own)

        respawn = self._random_cells()
        coin_cells = np.where(pickers > 0, respawn, coin_cells)
        self._agent_rc = self._to_rc(agent_cells)
        self._coin_rc = self._to_rc(coin_cells)
        self.t += 1
        self._needs_reset = self.t >= self.num_steps
        return (
            self._observe(agent_cells, coin_cells),
            np.array(rewards.T, dtype=np.float32, order="C"),
            {"pickups": pickups.transpose(2, 0, 1).astype(np.int32, order="C")},
        )

    def _random_cells(self) -> np.ndarray:
        """Uniform cells drawn as `[B, N]` (the shared draw order), returned as `[N, B]`."""
        return self._rng.integers(0, self.grid_size**2, size=(self.num_games, self.num_players)).T

    def _from_positions(self, value: np.ndarray) -> np.ndarray:
        value = np.asarray(value)
        shape = (self.num_games, self.num_players, 2)
        if value.shape != shape or value.min() < 0 or value.max() >= self.grid_size:
            raise ValueError(f"positions must be {shape} cells of the {self.grid_size}x{self.grid_size} grid")
        return np.array(value.transpose(2, 1, 0), dtype=np.int64)

    def _to_rc(self, cells: np.ndarray) -> np.ndarray:
        rc = np.empty((2, *cells.shape), dtype=np.int64)
        np.divmod(cells, self.grid_size, out=(rc[0], rc[1]))
        return rc

    def _observe(self, agent_cells: np.ndarray, coin_cells: np.ndarray) -> np.ndarray:
        obs = np.zeros((self.num_games, self.num_players, *self.obs_shape), dtype=np.float32)
        flat = obs.reshape(-1)
        flat[self._agent_obs_offsets + agent_cells] = 1.0
        flat[self._coin_obs_offsets + coin_cells] = 1.0
        return obs


def coin_game_metrics(rewards: np.ndarray, pickups: np.ndarray) -> dict[str, dict[str, float]]:
    """Episode metrics from `rewards [B, T, N]` and `pickups [B, T, N, N]`, averaged over the B games.

    Per player i: `return` (mean episode sum of rewards), `own_coins`, `other_coins`, `coins` (mean per
    episode of the coins i picked up: its own, the others', all) and `own_coin_rate`, the paper's P(own coin):
    own pickups / all pickups of i over the whole batch (0.0 if it picked none). Under `"all"`:
    `total_coins`, the mean number of coins picked up per episode by all players together.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    pickups = np.asarray(pickups, dtype=np.int64)
    if rewards.ndim != 3 or pickups.shape != rewards.shape + rewards.shape[-1:]:
        raise ValueError(
            f"rewards must be [B, T, N] and pickups [B, T, N, N], got {rewards.shape} and {pickups.shape}"
        )
    num_games = rewards.shape[0]
    picks = pickups.sum(axis=(0, 1))
    metrics: dict[str, dict[str, float]] = {}
    for i, agent in enumerate(_agent_ids(rewards.shape[-1])):
        own, total = int(picks[i, i]), int(picks[i].sum())
        metrics[agent] = {
            "return": float(rewards[..., i].sum(axis=1).mean()),
            "own_coin_rate": own / total if total else 0.0,
            "own_coins": own / num_games,
            "other_coins": (total - own) / num_games,
            "coins": total / num_games,
        }
    metrics["all"] = {"total_coins": float(picks.sum()) / num_games}
    return metrics
