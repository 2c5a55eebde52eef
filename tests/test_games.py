"""Social-dilemma games: rules, reference vs batched agreement, scripted reference levels."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from envs.games.coin_game import BatchedCoinGame, CoinGame, coin_game_metrics
from envs.games.ipd import FIRST_OBS, IPD, PAYOFFS, BatchedIPD, ipd_metrics
from scripted_coin_policies import (
    greedy_policy,
    own_coin_policy,
    own_vs_greedy_policy,
    random_policy,
)

RIGHT, LEFT, DOWN, UP, STAY = range(5)


def _as_dict(row: np.ndarray) -> dict[str, int]:
    return {f"player_{i}": int(a) for i, a in enumerate(row)}


# --- PettingZoo API -------------------------------------------------------------------------------

API_ENVS = {
    "ipd": lambda: IPD(num_steps=8),
    "coin_2p": lambda: CoinGame(num_players=2),
    "coin_3p": lambda: CoinGame(num_players=3),
    "coin_2p_flat": lambda: CoinGame(num_players=2, flat_obs=True),
    "coin_3p_4x4": lambda: CoinGame(num_players=3, grid_size=4),
    "coin_2p_4x4_flat": lambda: CoinGame(num_players=2, grid_size=4, flat_obs=True),
}


@pytest.mark.parametrize("name", API_ENVS)
def test_parallel_api(name: str) -> None:
    parallel_api_test(API_ENVS[name](), num_cycles=100)
    parallel_seed_test(API_ENVS[name], num_cycles=100)


@pytest.mark.parametrize("name", API_ENVS)
def test_observations_lie_in_their_spaces(name: str) -> None:
    env = API_ENVS[name]()
    obs, _ = env.reset(seed=3)
    rng = np.random.default_rng(3)
    while True:
        for agent, o in obs.items():
            assert o.dtype == np.float32 and env.observation_space(agent).contains(o)
        if not env.agents:
            break
        actions = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
        obs, rewards, _, truncations, _ = env.step(actions)
        assert all(isinstance(r, float) for r in rewards.values())
        assert not any(truncations.values())


# --- IPD ------------------------------------------------------------------------------------------

IPD_TABLE = {(0, 0): (-1.0, -1.0), (0, 1): (-3.0, 0.0), (1, 0): (0.0, -3.0), (1, 1): (-2.0, -2.0)}


@pytest.mark.parametrize("joint", IPD_TABLE)
def test_ipd_payoffs(joint: tuple[int, int]) -> None:
    expected = IPD_TABLE[joint]
    assert tuple(PAYOFFS[joint]) == expected
    env = IPD()
    env.reset()
    _, rewards, *_ = env.step(_as_dict(joint))
    assert (rewards["player_0"], rewards["player_1"]) == expected
    batched = BatchedIPD(num_games=3)
    batched.reset()
    _, b_rewards, info = batched.step(np.array([joint] * 3))
    assert b_rewards.dtype == np.float32 and info == {}
    np.testing.assert_array_equal(b_rewards, [expected] * 3)


def test_ipd_observations_and_termination() -> None:
    env = IPD(num_steps=3)
    obs, infos = env.reset()
    assert set(obs) == set(infos) == {"player_0", "player_1"}
    for o in obs.values():
        np.testing.assert_array_equal(o, [-1.0, 0.0])
    for t, joint in enumerate([(0, 1), (1, 1), (1, 0)], start=1):
        obs, _, terminations, truncations, _ = env.step(_as_dict(joint))
        for o in obs.values():
            np.testing.assert_array_equal(o, joint)
        assert all(v == (t == 3) for v in terminations.values())
        assert not any(truncations.values())
    assert env.agents == []
    with pytest.raises(RuntimeError):
        env.step(_as_dict((0, 0)))


def test_batched_ipd_observations_and_end_of_episode() -> None:
    env = BatchedIPD(num_games=4, num_steps=2)
    with pytest.raises(RuntimeError):
        env.step(np.zeros((4, 2), dtype=int))
    obs = env.reset()
    assert obs.shape == (4, 2, 2) and obs.dtype == np.float32
    np.testing.assert_array_equal(obs, np.broadcast_to(FIRST_OBS, (4, 2, 2)))
    actions = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
    obs, _, _ = env.step(actions)
    np.testing.assert_array_equal(obs, np.stack([actions, actions], axis=1))
    env.step(actions)
    assert env.t == 2
    with pytest.raises(RuntimeError):
        env.step(actions)
    env.reset()
    assert env.t == 0
    env.step(actions)


@pytest.mark.parametrize("num_games", [1, 16])
def test_batched_ipd_matches_reference(num_games: int) -> None:
    rng = np.random.default_rng(num_games)
    batched = BatchedIPD(num_games, num_steps=10)
    refs = [IPD(num_steps=10) for _ in range(num_games)]
    for _ in range(3):
        b_obs = batched.reset()
        for b, ref in enumerate(refs):
            obs, _ = ref.reset()
            np.testing.assert_array_equal(b_obs[b], [obs["player_0"], obs["player_1"]])
        for t in range(1, 11):
            actions = rng.integers(0, 2, size=(num_games, 2))
            b_obs, b_rewards, _ = batched.step(actions)
            for b, ref in enumerate(refs):
                obs, rewards, terminations, _, _ = ref.step(_as_dict(actions[b]))
                np.testing.assert_array_equal(b_obs[b], [obs["player_0"], obs["player_1"]])
                np.testing.assert_array_equal(b_rewards[b], [rewards["player_0"], rewards["player_1"]])
                assert all(v == (batched.t == 10) for v in terminations.values())


# --- Coin Game: hand-worked cases -----------------------------------------------------------------


def play(agents, coins, actions, grid_size: int = 3):
    """One step from a hand-set state, in the reference and in a one-game batched env; both must agree.

    Returns the reference env after the step, and its rewards `[N]`, pickups `[N, N]` and observations.
    """
    n = len(agents)
    ref = CoinGame(num_players=n, grid_size=grid_size)
    ref.reset(seed=0)
    ref.agent_pos, ref.coin_pos = np.array(agents), np.array(coins)
    batched = BatchedCoinGame(1, num_players=n, grid_size=grid_size, seed=0)
    batched.reset()
    batched.agent_pos, batched.coin_pos = np.array([agents]), np.array([coins])

    obs, rewards, _, _, infos = ref.step(_as_dict(actions))
    b_obs, b_rewards, b_info = batched.step(np.array([actions]))
    ids = ref.possible_agents
    rewards_arr = np.array([rewards[a] for a in ids])
    pickups = np.array([infos[a]["pickups"] for a in ids])
    np.testing.assert_array_equal(b_rewards[0], rewards_arr)
    np.testing.assert_array_equal(b_info["pickups"][0], pickups)
    np.testing.assert_array_equal(batched.agent_pos[0], ref.agent_pos)
    np.testing.assert_array_equal(batched.coin_pos[0], ref.coin_pos)
    np.testing.assert_array_equal(b_obs[0], np.stack([obs[a] for a in ids]))
    return ref, rewards_arr, pickups, obs


@pytest.mark.parametrize(
    "start, action, end",
    [
        ((0, 2), RIGHT, (0, 0)),
        ((1, 0), LEFT, (1, 2)),
        ((2, 1), DOWN, (0, 1)),
        ((0, 1), UP, (2, 1)),
        ((1, 2), STAY, (1, 2)),
        ((0, 0), RIGHT, (0, 1)),
    ],
)
def test_coin_game_moves_wrap_around(start, action, end) -> None:
    ref, rewards, _, _ = play([start, (1, 1)], [(1, 1), (1, 1)], [action, UP])
    assert tuple(ref.agent_pos[0]) == end
    assert tuple(ref.agent_pos[1]) == (0, 1)
    np.testing.assert_array_equal(rewards, [0.0, 0.0])


@pytest.mark.parametrize(
    "start, action, end",
    [((3, 3), RIGHT, (3, 0)), ((0, 0), LEFT, (0, 3)), ((3, 0), DOWN, (0, 0)), ((0, 3), UP, (3, 3))],
)
def test_coin_game_moves_wrap_around_4x4(start, action, end) -> None:
    ref, _, _, _ = play([start, (1, 1)], [(2, 2), (2, 2)], [action, STAY], grid_size=4)
    assert tuple(ref.agent_pos[0]) == end


def test_own_pickup_pays_one_and_respawns_only_that_coin() -> None:
    ref, rewards, pickups, _ = play([(0, 0), (2, 2)], [(0, 1), (1, 1)], [RIGHT, STAY])
    np.testing.assert_array_equal(rewards, [1.0, 0.0])
    np.testing.assert_array_equal(pickups, [[1, 0], [0, 0]])
    assert tuple(ref.coin_pos[1]) == (1, 1)


def test_standing_on_a_coin_picks_it_up() -> None:
    _, rewards, pickups, _ = play([(1, 1), (2, 2)], [(1, 1), (0, 0)], [STAY, STAY])
    np.testing.assert_array_equal(rewards, [1.0, 0.0])
    np.testing.assert_array_equal(pickups, [[1, 0], [0, 0]])


def test_other_pickup_2p_charges_owner_two() -> None:
    ref, rewards, pickups, _ = play([(0, 0), (2, 2)], [(0, 2), (1, 0)], [DOWN, STAY])
    np.testing.assert_array_equal(rewards, [1.0, -2.0])
    np.testing.assert_array_equal(pickups, [[0, 1], [0, 0]])
    assert tuple(ref.coin_pos[0]) == (0, 2)


def test_other_pickup_3p_charges_owner_one_and_a_half() -> None:
    _, rewards, pickups, _ = play([(0, 0), (2, 2), (1, 2)], [(0, 2), (2, 0), (0, 1)], [RIGHT, STAY, STAY])
    np.testing.assert_array_equal(rewards, [1.0, 0.0, -1.5])
    np.testing.assert_array_equal(pickups, [[0, 0, 1], [0, 0, 0], [0, 0, 0]])


def test_two_pickers_of_own_and_other_coin_2p() -> None:
    _, rewards, pickups, _ = play([(0, 0), (1, 1)], [(0, 1), (2, 2)], [RIGHT, UP])
    np.testing.assert_array_equal(rewards, [1.0 - 2.0, 1.0])
    np.testing.assert_array_equal(pickups, [[1, 0], [1, 0]])


def test_owner_charged_once_per_other_picker_3p() -> None:
    _, rewards, pickups, _ = play([(1, 0), (1, 2), (0, 1)], [(1, 1), (2, 2), (2, 0)], [STAY, LEFT, DOWN])
    np.testing.assert_array_equal(rewards, [-3.0, 1.0, 1.0])
    np.testing.assert_array_equal(pickups[:, 0], [0, 1, 1])
    _, rewards, _, _ = play([(1, 0), (1, 2), (0, 1)], [(1, 1), (2, 2), (2, 0)], [RIGHT, LEFT, DOWN])
    np.testing.assert_array_equal(rewards, [1.0 - 3.0, 1.0, 1.0])


def test_one_agent_on_two_stacked_coins_gets_both() -> None:
    _, rewards, pickups, _ = play([(0, 0), (2, 2)], [(0, 1), (0, 1)], [RIGHT, STAY])
    np.testing.assert_array_equal(rewards, [2.0, -2.0])
    np.testing.assert_array_equal(pickups, [[1, 1], [0, 0]])


def _one_hot(cell: tuple[int, int], grid_size: int = 3) -> np.ndarray:
    plane = np.zeros((grid_size, grid_size), dtype=np.float32)
    plane[cell] = 1.0
    return plane


def test_observation_channels_and_roll_2p() -> None:
    agents, coins = [(0, 0), (1, 2)], [(2, 0), (2, 1)]
    ref, _, _, obs = play(agents, coins, [STAY, STAY])
    a0, a1, c0, c1 = (_one_hot(p) for p in agents + coins)
    np.testing.assert_array_equal(obs["player_0"], np.stack([a0, a1, c0, c1]))
    np.testing.assert_array_equal(obs["player_1"], np.stack([c0, c1, a0, a1]))


def test_observation_channels_and_roll_3p() -> None:
    agents, coins = [(0, 0), (1, 2), (2, 2)], [(2, 0), (2, 1), (0, 1)]
    _, _, _, obs = play(agents, coins, [STAY, STAY, STAY])
    a0, a1, a2, c0, c1, c2 = (_one_hot(p) for p in agents + coins)
    np.testing.assert_array_equal(obs["player_0"], np.stack([a0, a1, a2, c0, c1, c2]))
    np.testing.assert_array_equal(obs["player_1"], np.stack([a2, c0, c1, c2, a0, a1]))
    np.testing.assert_array_equal(obs["player_2"], np.stack([c1, c2, a0, a1, a2, c0]))


@pytest.mark.parametrize("num_players", [2, 3])
def test_flat_observations_are_c_order_reshapes(num_players: int) -> None:
    image, flat = CoinGame(num_players), CoinGame(num_players, flat_obs=True)
    b_image = BatchedCoinGame(4, num_players, seed=5)
    b_flat = BatchedCoinGame(4, num_players, flat_obs=True, seed=5)
    assert flat.observation_space("player_0").shape == (2 * num_players * 9,)
    assert b_flat.obs_shape == (2 * num_players * 9,) and b_image.obs_shape == (2 * num_players, 3, 3)
    obs_i, _ = image.reset(seed=1)
    obs_f, _ = flat.reset(seed=1)
    for agent in obs_i:
        np.testing.assert_array_equal(obs_f[agent], obs_i[agent].reshape(-1))
    np.testing.assert_array_equal(b_flat.reset(), b_image.reset().reshape(4, num_players, -1))


@pytest.mark.parametrize("num_players", [2, 3])
def test_every_coin_and_agent_is_always_on_the_board(num_players: int) -> None:
    env = BatchedCoinGame(256, num_players, num_steps=16, seed=num_players)
    rng = np.random.default_rng(0)
    obs = env.reset()
    total_picked = 0
    for _ in range(env.num_steps):
        assert obs.shape == (256, num_players, 2 * num_players, 3, 3)
        np.testing.assert_array_equal(obs.sum(axis=(3, 4)), 1.0)
        assert env.coin_pos.min() >= 0 and env.coin_pos.max() < 3
        obs, _, info = env.step(random_policy(env, rng))
        total_picked += info["pickups"].sum()
    assert total_picked > 0


# --- Coin Game: batched vs reference --------------------------------------------------------------


@pytest.mark.parametrize("num_players", [2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_batched_coin_game_matches_reference_trajectories(num_players: int, seed: int) -> None:
    ref = CoinGame(num_players, num_steps=12)
    batched = BatchedCoinGame(1, num_players, num_steps=12, seed=seed)
    rng = np.random.default_rng(100 + seed)
    ids = ref.possible_agents
    for episode in range(3):
        obs, _ = ref.reset(seed=seed if episode == 0 else None)
        b_obs = batched.reset()
        np.testing.assert_array_equal(b_obs[0], np.stack([obs[a] for a in ids]))
        while ref.agents:
            actions = rng.integers(0, 5, size=(1, num_players))
            obs, rewards, terminations, truncations, infos = ref.step(_as_dict(actions[0]))
            b_obs, b_rewards, b_info = batched.step(actions)
            np.testing.assert_array_equal(b_obs[0], np.stack([obs[a] for a in ids]))
            np.testing.assert_array_equal(b_rewards[0], [rewards[a] for a in ids])
            np.testing.assert_array_equal(b_info["pickups"][0], [infos[a]["pickups"] for a in ids])
            assert all(v == (batched.t == batched.num_steps) for v in terminations.values())
            assert not any(truncations.values())


def test_batched_reset_seed_reproduces() -> None:
    env = BatchedCoinGame(8, 3, seed=0)
    first = env.reset(seed=7)
    env.step(np.zeros((8, 3), dtype=int))
    np.testing.assert_array_equal(env.reset(seed=7), first)
    assert not np.array_equal(env.reset(), first)


@pytest.mark.parametrize("num_players", [2, 3])
def test_batched_coin_game_many_games_match_reference_step(num_players: int) -> None:
    num_games = 48
    env = BatchedCoinGame(num_games, num_players, seed=11)
    ref = CoinGame(num_players)
    rng = np.random.default_rng(12)
    env.reset()
    picked = 0
    for _ in range(env.num_steps):
        before_agents, before_coins = env.agent_pos.copy(), env.coin_pos.copy()
        actions = greedy_policy(env, rng) if rng.random() < 0.5 else random_policy(env, rng)
        _, rewards, info = env.step(actions)
        for b in range(num_games):
            ref.reset(seed=b)
            ref.agent_pos, ref.coin_pos = before_agents[b], before_coins[b]
            _, ref_rewards, _, _, infos = ref.step(_as_dict(actions[b]))
            ref_pickups = np.array([infos[a]["pickups"] for a in ref.possible_agents])
            np.testing.assert_array_equal(rewards[b], [ref_rewards[a] for a in ref.possible_agents])
            np.testing.assert_array_equal(info["pickups"][b], ref_pickups)
            np.testing.assert_array_equal(env.agent_pos[b], ref.agent_pos)
            kept = ~ref_pickups.any(axis=0)
            np.testing.assert_array_equal(env.coin_pos[b][kept], ref.coin_pos[kept])
            picked += ref_pickups.sum()
    assert picked > num_games


# --- Coin Game: scripted reference levels (4096 games x 32 steps) ---------------------

# (players, policy, return per player, P(own coin) per player, coins per episode per player)
LEVELS = {
    "2p_random": (2, random_policy, [0.0, 0.0], [0.50, 0.50], [6.0, 6.0]),
    "2p_own_coin": (2, own_coin_policy, [18.0, 18.0], [0.86, 0.86], [25.4, 25.4]),
    "2p_greedy": (2, greedy_policy, [0.1, 0.1], [0.50, 0.50], [28.9, 28.9]),
    "2p_own_vs_greedy": (2, own_vs_greedy_policy, [-4.1, 20.2], [0.84, 0.48], [25.5, 28.5]),
    "3p_random": (3, random_policy, [0.0] * 3, [0.33] * 3, [9.3] * 3),
    "3p_own_coin": (3, own_coin_policy, [17.6] * 3, [0.74] * 3, [28.7] * 3),
    "3p_greedy": (3, greedy_policy, [0.0] * 3, [0.33] * 3, [34.8] * 3),
}


def rollout(env: BatchedCoinGame, policy: Callable, rng: np.random.Generator):
    """One full episode of every game; returns rewards `[B, T, N]` and pickups `[B, T, N, N]`."""
    env.reset()
    rewards, pickups = [], []
    for _ in range(env.num_steps):
        _, r, info = env.step(policy(env, rng))
        rewards.append(r)
        pickups.append(info["pickups"])
    return np.stack(rewards, axis=1), np.stack(pickups, axis=1)


@pytest.mark.parametrize("name", LEVELS)
def test_scripted_policy_levels(name: str) -> None:
    num_players, policy, returns, own_rates, coins = LEVELS[name]
    env = BatchedCoinGame(4096, num_players, seed=2024)
    metrics = coin_game_metrics(*rollout(env, policy, np.random.default_rng(2025)))
    for i in range(num_players):
        m = metrics[f"player_{i}"]
        assert m["return"] == pytest.approx(returns[i], abs=0.5), (name, i, m)
        assert m["own_coin_rate"] == pytest.approx(own_rates[i], abs=0.02), (name, i, m)
        assert m["coins"] == pytest.approx(coins[i], abs=0.5), (name, i, m)


# --- Metrics --------------------------------------------------------------------------------------


def test_ipd_metrics_by_hand() -> None:
    actions = np.array([[[0, 0], [1, 0]], [[1, 1], [1, 0]]])
    rewards = PAYOFFS[actions[..., 0], actions[..., 1]]
    m = ipd_metrics(actions, rewards)
    assert m["player_0"] == pytest.approx(
        {"cooperation_rate": 0.25, "reward_per_step": -0.75, "return": -1.5}
    )
    assert m["player_1"] == pytest.approx(
        {"cooperation_rate": 0.75, "reward_per_step": -2.25, "return": -4.5}
    )


def test_coin_game_metrics_by_hand() -> None:
    pickups = np.zeros((2, 2, 2, 2), dtype=int)
    pickups[0, 0, 0, 0] = 1
    pickups[0, 1, 1, 0] = 1
    pickups[1, 0, 0, 1] = pickups[1, 0, 1, 1] = 1
    pickups[1, 1, 1, 1] = 1
    rewards = np.array([[[1.0, 0.0], [-2.0, 1.0]], [[1.0, -1.0], [0.0, 1.0]]])
    m = coin_game_metrics(rewards, pickups)
    assert m["player_0"] == pytest.approx(
        {"return": 0.0, "own_coin_rate": 0.5, "own_coins": 0.5, "other_coins": 0.5, "coins": 1.0}
    )
    assert m["player_1"] == pytest.approx(
        {"return": 0.5, "own_coin_rate": 2 / 3, "own_coins": 1.0, "other_coins": 0.5, "coins": 1.5}
    )
    assert m["all"] == {"total_coins": 2.5}


def test_coin_game_metrics_without_pickups() -> None:
    m = coin_game_metrics(np.zeros((3, 4, 3)), np.zeros((3, 4, 3, 3), dtype=int))
    assert set(m) == {"player_0", "player_1", "player_2", "all"}
    assert m["player_2"]["own_coin_rate"] == 0.0 and m["player_2"]["coins"] == 0.0
    assert m["all"]["total_coins"] == 0.0


def test_metrics_reject_bad_shapes() -> None:
    with pytest.raises(ValueError):
        ipd_metrics(np.zeros((2, 3, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError):
        coin_game_metrics(np.zeros((2, 3, 2)), np.zeros((2, 3, 2)))


# --- Errors ---------------------------------------------------------------------------------------


def test_batched_coin_game_step_past_the_end_raises() -> None:
    env = BatchedCoinGame(4, num_steps=2, seed=0)
    with pytest.raises(RuntimeError):
        env.step(np.zeros((4, 2), dtype=int))
    env.reset()
    env.step(np.zeros((4, 2), dtype=int))
    env.step(np.zeros((4, 2), dtype=int))
    with pytest.raises(RuntimeError):
        env.step(np.zeros((4, 2), dtype=int))


def test_reference_step_after_the_end_raises() -> None:
    env = CoinGame(num_steps=1)
    with pytest.raises(RuntimeError):
        env.step(_as_dict([STAY, STAY]))
    env.reset(seed=0)
    _, _, terminations, _, _ = env.step(_as_dict([STAY, STAY]))
    assert all(terminations.values()) and env.agents == []
    with pytest.raises(RuntimeError):
        env.step(_as_dict([STAY, STAY]))


@pytest.mark.parametrize(
    "make, param",
    [
        (lambda: CoinGame(num_players=1), "num_players"),
        (lambda: CoinGame(grid_size=1), "grid_size"),
        (lambda: CoinGame(num_steps=0), "num_steps"),
        (lambda: BatchedCoinGame(0), "num_games"),
        (lambda: BatchedCoinGame(4, num_players=1), "num_players"),
        (lambda: BatchedCoinGame(4, grid_size=0), "grid_size"),
        (lambda: BatchedCoinGame(4, num_steps=0), "num_steps"),
        (lambda: IPD(num_steps=0), "num_steps"),
        (lambda: BatchedIPD(0), "num_games"),
        (lambda: BatchedIPD(4, num_steps=0), "num_steps"),
    ],
)
def test_bad_constructor_params_raise(make: Callable, param: str) -> None:
    with pytest.raises(ValueError, match=param):
        make()


def test_bad_actions_raise() -> None:
    coin, ipd = BatchedCoinGame(4, seed=0), BatchedIPD(4)
    coin.reset()
    ipd.reset()
    for bad in (np.zeros((4, 3), dtype=int), np.full((4, 2), 5), np.full((4, 2), -1), np.zeros((4, 2)) + 0.5):
        with pytest.raises(ValueError):
            coin.step(bad)
    for bad in (np.zeros((3, 2), dtype=int), np.full((4, 2), 2), np.full((4, 2), -1), np.zeros((4, 2))):
        with pytest.raises(ValueError):
            ipd.step(bad)
    ref = CoinGame()
    ref.reset(seed=0)
    with pytest.raises(ValueError):
        ref.step({"player_0": 5, "player_1": 0})


def test_batched_spaces_match_reference() -> None:
    for ref, batched in (
        (IPD(), BatchedIPD(2)),
        (CoinGame(3, grid_size=4), BatchedCoinGame(2, 3, grid_size=4)),
        (CoinGame(2, flat_obs=True), BatchedCoinGame(2, 2, flat_obs=True)),
    ):
        assert batched.agents == ref.possible_agents
        assert batched.num_players == len(ref.possible_agents)
        assert batched.observation_space() == ref.observation_space("player_0")
        assert batched.observation_space() is batched.observation_space()
        assert batched.action_space() == ref.action_space("player_0")
        assert batched.num_actions == ref.action_space("player_0").n
        assert batched.obs_shape == ref.observation_space("player_0").shape


def test_batched_positions_are_writable_and_checked() -> None:
    env = BatchedCoinGame(2, seed=0)
    env.reset()
    env.agent_pos[1, 0] = (2, 2)
    env.coin_pos = np.array([[[0, 0], [0, 1]], [[1, 1], [2, 0]]])
    np.testing.assert_array_equal(env.agent_pos[1, 0], [2, 2])
    np.testing.assert_array_equal(env.coin_pos[1], [[1, 1], [2, 0]])
    with pytest.raises(ValueError):
        env.coin_pos = np.zeros((2, 3, 2), dtype=int)
    with pytest.raises(ValueError):
        env.agent_pos = np.full((2, 2, 2), 3)
