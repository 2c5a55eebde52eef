"""Reciprocator math: reciprocal rewards against hand-computed numbers, the IPD closed
form, and the generic reward/future influence estimator on random-play Coin Game data."""

import pickle

import numpy as np
import pytest
import torch

from envs.games.coin_game import BatchedCoinGame
from envs.games.ipd import PAYOFFS, BatchedIPD
from rllib_ext.algorithms.reciprocator.influence import (
    CoinTransitionInfluence,
    FitSchedule,
    MatrixInfluence,
    RewardFutureInfluence,
)
from rllib_ext.algorithms.reciprocator.influence.coin_transition import expected_next_value
from rllib_ext.algorithms.reciprocator.influence.neural import estimator_inputs
from rllib_ext.algorithms.reciprocator.reciprocal_reward import (
    IPD_ONE_STEP,
    RECIPROCAL_REWARD_TYPES,
    normalize,
    pair_reciprocal_reward,
    reciprocal_rewards,
    scheduled_weight,
)

# One game of 4 steps, γ = 0.5, plus an all-zero game (balances are per game and start at 0).
GAMMA = 0.5
VI_IN = np.array([[1.0, -2.0, 0.0, -1.0], [0.0, 0.0, 0.0, 0.0]])
VI_OUT = np.array([[2.0, -1.0, 1.0, 2.0], [0.0, 0.0, 0.0, 0.0]])
VI_SELF_OPPONENT = np.array([[0.5, 0.0, -1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
# By hand: grudge b ← γb + in = [0, 1, -1.5, -0.75]; payoff balance b ← γb + in − out = [0, -1, -1.5, -1.75];
# debit D ← γD + out + self = [0, 2.5, 0.25, 0.125], so b − D = [0, -1.5, -1.75, -0.875].
EXPECTED = {
    "petty": ([0.0, -1.0, -1.5, -1.5], -0.75),
    "signed_grudge": ([0.0, -1.0, -1.0, -2.0], -0.75),
    "petty_payoff": ([0.0, 1.0, -1.5, -3.5], -1.75),
    "signed_petty_payoff": ([0.0, 1.0, -1.0, -2.0], -1.75),
    "signed_grudge_petty_payoff": ([0.0, 1.0, -1.5, -1.75], -1.75),
    "grudge_minus_debit": ([0.0, 1.5, -1.75, -1.75], -0.875),
    "signed_grudge_minus_debit": ([0.0, 1.0, -1.0, -2.0], -0.875),
}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The estimator tests are timed for one thread on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("kind", RECIPROCAL_REWARD_TYPES)
def test_every_reciprocal_reward_type_by_hand(kind):
    assert set(EXPECTED) == set(RECIPROCAL_REWARD_TYPES)
    rr, end_balance = pair_reciprocal_reward(VI_IN, VI_OUT, GAMMA, kind, VI_SELF_OPPONENT)
    expected_rr, expected_end = EXPECTED[kind]
    np.testing.assert_allclose(rr, [expected_rr, [0.0] * 4])
    np.testing.assert_allclose(end_balance, [expected_end, 0.0])


def test_petty_payoff_balance_recursion():
    """b_{t+1} = γ b_t + in_t − out_t and rr_t = b_t · out_t, b_t excluding step t."""
    rng = np.random.default_rng(0)
    vi_in, vi_out = rng.normal(size=(3, 6)), rng.normal(size=(3, 6))
    rr, end_balance = pair_reciprocal_reward(vi_in, vi_out, 0.9, "petty_payoff")
    b = np.zeros(3)
    for t in range(6):
        np.testing.assert_allclose(rr[:, t], b * vi_out[:, t])
        last_b = b
        b = 0.9 * b + vi_in[:, t] - vi_out[:, t]
    np.testing.assert_allclose(end_balance, last_b)


def test_bad_reciprocal_reward_arguments():
    with pytest.raises(ValueError, match="unknown reciprocal reward type"):
        pair_reciprocal_reward(VI_IN, VI_OUT, GAMMA, "generous")
    with pytest.raises(ValueError, match="vi_self_opponent"):
        pair_reciprocal_reward(VI_IN, VI_OUT, GAMMA, "grudge_minus_debit")
    with pytest.raises(ValueError, match="unknown reciprocal reward type"):
        reciprocal_rewards(np.zeros((1, 2, 2, 2)), 0, GAMMA, "generous")


def test_average_over_opponents_with_three_players():
    vi = np.full((1, 3, 3, 3), 7.0)  # entries no petty_payoff term reads stay at 7
    vi[0, :, 1, 0], vi[0, :, 0, 1] = [1.0, 1.0, 1.0], [0.0, 1.0, 2.0]  # in/out vs player 1
    vi[0, :, 2, 0], vi[0, :, 0, 2] = [-1.0, 0.0, 0.0], [1.0, 1.0, 1.0]  # in/out vs player 2
    # γ = 1. vs 1: b = [0, 1, 1], rr = [0, 1, 2]; vs 2: b = [0, -2, -3], rr = [0, -2, -3].
    rr, stats = reciprocal_rewards(vi, reciprocator=0, gamma=1.0, kind="petty_payoff")
    np.testing.assert_allclose(rr, [[0.0, -0.5, -0.5]])
    assert stats == pytest.approx({"end_balance": -1.0, "vi_in": 1 / 3, "vi_out": 1.0})


def test_minus_debit_reads_the_opponents_self_influence():
    vi = np.zeros((2, 4, 2, 2))
    vi[:, :, 1, 0], vi[:, :, 0, 1], vi[:, :, 1, 1] = VI_IN, VI_OUT, VI_SELF_OPPONENT
    vi[:, :, 0, 0] = 9.0  # the Reciprocator's own self-influence is not used
    rr, stats = reciprocal_rewards(vi, reciprocator=0, gamma=GAMMA, kind="grudge_minus_debit")
    np.testing.assert_allclose(rr, [EXPECTED["grudge_minus_debit"][0], [0.0] * 4])
    assert stats["end_balance"] == pytest.approx(-0.875 / 2)


def test_ipd_one_step_variant():
    vi_in, vi_out = np.array([[1.0, 2.0, 3.0]]), np.array([[4.0, 5.0, 6.0]])
    vi = np.zeros((1, 3, 2, 2))
    vi[:, :, 0, 1], vi[:, :, 1, 0] = vi_in, vi_out  # player 1 is the Reciprocator
    rr, stats = reciprocal_rewards(vi, reciprocator=1, gamma=0.96, kind=IPD_ONE_STEP)
    np.testing.assert_allclose(rr, [[0.0, 5.0, 12.0]])
    assert stats == pytest.approx({"end_balance": 2.0, "vi_in": 2.0, "vi_out": 5.0})


def test_weight_schedule_and_normalisation():
    assert [scheduled_weight(0.5, 2.0, 0.5, n) for n in range(6)] == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert scheduled_weight(5.0, 5.0, 0.0, 100) == 5.0
    assert scheduled_weight(1.0, 3.0, 0.0, 10) == 1.0
    rr = np.array([[1.0, 2.0], [3.0, 4.0]])
    expected = (torch.tensor(rr) - torch.tensor(rr).mean()) / (torch.tensor(rr).std() + 1e-7)  # official formula
    np.testing.assert_allclose(normalize(rr), expected.numpy())


def test_fit_schedule_counts_episodes_from_one():
    schedule = FitSchedule(initialization_episodes=2, period=2)
    assert [e for e in range(1, 10) if schedule.should_fit(e)] == [1, 2, 4, 6, 8]
    assert [e for e in range(1, 10) if FitSchedule(0, 3).should_fit(e)] == [3, 6, 9]


# ---------------------------------------------------------------- IPD closed form


def play_ipd(p_defect: np.ndarray, num_games: int = 2048, seed: int = 0):
    """Players defect with state-dependent probabilities `p_defect [2, 5]`; returns obs, actions, rewards."""
    env, rng = BatchedIPD(num_games), np.random.default_rng(seed)
    obs, actions, rewards = [env.reset()], [], []
    for t in range(env.num_steps):
        state = (obs[-1][:, 0, 0] + 2 * obs[-1][:, 0, 1] + 1).astype(int)
        a = (rng.random((num_games, 2)) < p_defect[:, state].T).astype(np.int64)
        o, r, _ = env.step(a)
        actions.append(a), rewards.append(r)
        if t < env.num_steps - 1:
            obs.append(o)
    return np.stack(obs, 1), np.stack(actions, 1), np.stack(rewards, 1)


def test_ipd_closed_form():
    """vi[j, i] = r_i − [(1 − p̂) R_i(a_i, C) + p̂ R_i(a_i, D)]: +2p̂ if j cooperated, −2(1 − p̂) if it defected
    (either action of i), −p̂ / +(1 − p̂) on its own return; zero mean on the data p̂ was estimated from."""
    obs, actions, rewards = play_ipd(np.array([[0.3, 0.1, 0.5, 0.7, 0.9], [0.6, 0.2, 0.4, 0.8, 0.5]]))
    est = MatrixInfluence()
    est.observe(obs, actions, rewards)  # the first observed episode refreshes p̂
    vi = est.influence(obs, actions, rewards)
    assert vi.shape == (*actions.shape[:2], 2, 2)

    states = (obs[..., 0, 0] + 2 * obs[..., 0, 1] + 1).astype(int)
    for j in range(2):
        p_hat = np.array([actions[..., j][states == s].mean() for s in range(5)])
        np.testing.assert_allclose(est.p_defect[j], p_hat)
        p = p_hat[states]
        defected = actions[..., j] == 1
        np.testing.assert_allclose(vi[..., j, 1 - j], np.where(defected, -2 * (1 - p), 2 * p), atol=1e-12)
        np.testing.assert_allclose(vi[..., j, j], np.where(defected, 1 - p, -p), atol=1e-12)
        assert abs(vi[..., j, 1 - j].mean()) < 1e-9
        for i in range(2):  # r_i − E_{a'_j ~ p̂_j(s)} R_i(a with a_j := a'_j)
            payoff_if = []
            for a_j in (0, 1):
                a = actions.copy()
                a[..., j] = a_j
                payoff_if.append(PAYOFFS[a[..., 0], a[..., 1], i])
            baseline = (1 - p) * payoff_if[0] + p * payoff_if[1]
            np.testing.assert_allclose(vi[..., j, i], rewards[..., i] - baseline, atol=1e-6)


def test_ipd_empty_states_keep_their_estimate_and_refresh_period():
    mixed = play_ipd(np.full((2, 5), 0.5), num_games=256)
    always_c = play_ipd(np.zeros((2, 5)), num_games=256)  # visits only the start state and CC
    always_d = play_ipd(np.ones((2, 5)), num_games=256)  # start state and DD
    est = MatrixInfluence(refresh_period=3, buffer_episodes=1)
    assert np.all(est.p_defect == 0.5)

    est.observe(*always_c)  # observed episode 1: refresh
    np.testing.assert_array_equal(est.p_defect, [[0, 0, 0.5, 0.5, 0.5]] * 2)
    vi = est.influence(*mixed)
    assert np.isfinite(vi).all()

    est.observe(*mixed)  # episodes 2 and 3: no refresh
    est.observe(*always_d)
    np.testing.assert_array_equal(est.p_defect, [[0, 0, 0.5, 0.5, 0.5]] * 2)
    est.observe(*mixed)  # episode 4: refresh from the last episode only
    assert np.all((est.p_defect > 0.3) & (est.p_defect < 0.7))
    before = est.p_defect.copy()
    est.observe(*mixed), est.observe(*mixed)
    est.observe(*always_d)  # episode 7: start state and DD refreshed to 1, CC / DC / CD kept
    np.testing.assert_array_equal(est.p_defect[:, [0, 4]], 1.0)
    np.testing.assert_array_equal(est.p_defect[:, 1:4], before[:, 1:4])
    assert np.isfinite(est.influence(*mixed)).all()
    assert set(est.fit()) == {f"p_defect_{j}_s{s}" for j in range(2) for s in range(5)}

    clone = MatrixInfluence(refresh_period=3)
    clone.set_state(pickle.loads(pickle.dumps(est.get_state())))
    np.testing.assert_array_equal(clone.influence(*mixed), est.influence(*mixed))
    assert clone.num_observed == 7 and len(clone.buffer) == 1


def test_ipd_buffer_spans_episodes():
    always_c = play_ipd(np.zeros((2, 5)), num_games=64)
    always_d = play_ipd(np.ones((2, 5)), num_games=64)
    est = MatrixInfluence(refresh_period=1, buffer_episodes=2)
    est.observe(*always_c), est.observe(*always_d)
    np.testing.assert_allclose(est.p_defect[:, 0], 0.5)  # start state: half from each episode
    np.testing.assert_allclose(est.p_defect[:, [1, 4]], [[0.0, 1.0]] * 2)


# ---------------------------------------------------------------- generic estimator on Coin Game


def play_coins(num_games: int, seed: int):
    """Random play in 2-player 3x3 Coin Game: obs [B, T, 2, 36], actions, rewards [B, T, 2], pickups [B, T, 2, 2]."""
    env, rng = BatchedCoinGame(num_games, flat_obs=True, seed=seed), np.random.default_rng(seed)
    obs, actions, rewards, pickups = [env.reset()], [], [], []
    for t in range(env.num_steps):
        a = rng.integers(0, env.num_actions, size=(num_games, 2))
        o, r, info = env.step(a)
        actions.append(a), rewards.append(r), pickups.append(info["pickups"])
        if t < env.num_steps - 1:
            obs.append(o)
    return np.stack(obs, 1), np.stack(actions, 1), np.stack(rewards, 1), np.stack(pickups, 1)


def small_estimator(**overrides) -> RewardFutureInfluence:
    kwargs = dict(num_players=2, obs_dim=36, num_steps=32, gamma=0.99, minibatch_size=512, num_minibatches=32,
                  epochs=10, seed=0)
    return RewardFutureInfluence(**{**kwargs, **overrides})


@pytest.fixture(scope="module")
def coins_fit():
    """An estimator fitted 3 times (after each of 3 batches of 512 random games) and a held-out batch."""
    est = small_estimator()
    losses = []
    for seed in range(3):
        obs, actions, rewards, _ = play_coins(512, seed)
        est.observe(obs, actions, rewards)
        losses.append(est.fit())
    return est, losses, play_coins(512, seed=10)


def test_estimator_inputs_and_labels_follow_the_official_code():
    obs, actions, rewards, _ = play_coins(4, seed=0)
    est = small_estimator()
    est.observe(obs, actions, rewards)
    x, labels = est.replay[0]
    b, t = 2, 5
    row = b * 32 + t
    np.testing.assert_array_equal(x[row], np.concatenate([actions[b, t], obs[b, t, 0], [31 - t]]))
    returns = [sum(0.99**k * rewards[b, s + k] for k in range(32 - s)) for s in (t, t + 1)]
    np.testing.assert_allclose(labels[row, 0], rewards[b, t])
    np.testing.assert_allclose(labels[row, 1], returns[0] - rewards[b, t], rtol=1e-5)
    np.testing.assert_allclose(labels[row, 1], 0.99 * returns[1], rtol=1e-5)
    with pytest.raises(ValueError, match="obs"):
        est.observe(obs[:, :, :1], actions, rewards)


def test_estimator_losses_fall_across_fits(coins_fit):
    _, losses, _ = coins_fit
    for head in ("reward", "future"):
        assert losses[-1][f"{head}_loss_last_epoch"] < losses[0][f"{head}_loss_first_epoch"]
        assert losses[-1][f"{head}_loss_first_epoch"] < losses[0][f"{head}_loss_first_epoch"]  # warm start
    assert losses[-1]["reward_loss_last_epoch"] < 0.6 * losses[0]["reward_loss_first_epoch"]


def test_estimator_influence_under_random_play(coins_fit):
    """Mean VI ≈ 0 (the counterfactual is j's average action); j taking i's coin: clearly negative (true immediate
    part −2 + 2·P(j's random move reaches that coin) = −1.6); j taking its own coin: ≈ 0 or mildly positive
    (true immediate part +2·P(j could have reached i's coin) ≈ +0.2). The future part regresses very noisy labels
    on little data here, so its mean is only ≈ 0 within about ±0.2."""
    est, _, (obs, actions, rewards, pickups) = coins_fit
    immediate, future = est.influence_parts(obs, actions, rewards)
    vi = est.influence(obs, actions, rewards)
    np.testing.assert_allclose(vi, immediate + 0.99 * future, rtol=1e-6, atol=1e-6)
    assert np.abs(immediate.mean(axis=(0, 1))).max() < 0.1
    assert np.abs(vi.mean(axis=(0, 1))).max() < 0.35
    for j, i in ((0, 1), (1, 0)):
        takes_i_coin = pickups[..., j, i] == 1
        takes_own_coin = (pickups[..., j, j] == 1) & (pickups[..., j, i] == 0)
        assert takes_i_coin.sum() > 500 and takes_own_coin.sum() > 500
        assert immediate[..., j, i][takes_i_coin].mean() < -1.0
        assert vi[..., j, i][takes_i_coin].mean() < -0.9
        assert -0.1 < immediate[..., j, i][takes_own_coin].mean() < 0.6
        assert vi[..., j, i][takes_own_coin].mean() > vi[..., j, i][takes_i_coin].mean() + 0.8


def test_estimator_state_round_trip(coins_fit):
    est, _, (obs, actions, rewards, _) = coins_fit
    clone = small_estimator(seed=1)
    clone.set_state(pickle.loads(pickle.dumps(est.get_state(include_replay=False))))
    np.testing.assert_array_equal(clone.influence(obs, actions, rewards), est.influence(obs, actions, rewards))
    assert len(clone.replay) == 0


def test_estimator_resumes_identically_after_set_state():
    """Weights, Adam moments, sampling generator and replay all travel: continued training matches exactly."""
    batches = [play_coins(16, seed) for seed in range(3)]
    est = small_estimator(minibatch_size=128, num_minibatches=2, epochs=2)
    est.observe(*batches[0][:3])
    est.fit()
    state = pickle.loads(pickle.dumps(est.get_state()))
    clone = small_estimator(minibatch_size=128, num_minibatches=2, epochs=2, seed=5)
    clone.set_state(state)
    for target in (est, clone):
        target.observe(*batches[1][:3])
        target.fit()
    np.testing.assert_array_equal(clone.influence(*batches[2][:3]), est.influence(*batches[2][:3]))


# ---------------------------------------------------------------- transition-model estimator (2-player Coin Game)


def test_expected_next_value_matches_the_enumeration():
    """Σ over the 9^4 next states of Π_e P_e(cell_e) · V(state), state index p0·9³ + p1·9² + c0·9 + c1 (official
    `get_index`), and the enumerated one-hot states in that order."""
    generator = torch.Generator().manual_seed(0)
    probs = torch.rand(3, 4, 9, generator=generator).softmax(-1)
    values = torch.randn(9, 9, 9, 9, 2, generator=generator)
    joint = torch.einsum("mp,mq,mc,md->mpqcd", probs[:, 0], probs[:, 1], probs[:, 2], probs[:, 3])
    brute = (joint[..., None] * values).sum(dim=(1, 2, 3, 4))
    torch.testing.assert_close(expected_next_value(probs, values), brute, rtol=1e-4, atol=1e-5)

    state = CoinTransitionInfluence().next_states[2 * 9**3 + 5 * 9**2 + 0 * 9 + 8]
    assert [int(state[e].reshape(-1).argmax()) for e in range(4)] == [2, 5, 0, 8] and state.sum() == 4


@pytest.fixture(scope="module")
def coins_transition_fit():
    est = CoinTransitionInfluence(minibatch_size=512, num_minibatches=16, epochs=10)
    losses = []
    for seed in range(2):
        obs, actions, rewards, _ = play_coins(256, seed)
        est.observe(obs, actions, rewards)
        losses.append(est.fit())
    return est, losses, play_coins(256, seed=10)


def test_transition_estimator_learns_and_marginalises(coins_transition_fit):
    """Losses fall; the joint model knows where each player moves, the model without player j's action gives
    j's true next cell the random-play probability 1/5; the future part averages ≈ 0 under random play."""
    est, losses, (obs, actions, rewards, _) = coins_transition_fit
    for head in ("value", "reward", "transition"):
        assert losses[-1][f"{head}_loss_last_epoch"] < losses[0][f"{head}_loss_first_epoch"]
    x = torch.from_numpy(estimator_inputs(obs, actions, 32, 36))
    with torch.no_grad():
        probs = est.transition_nets(x).view(3, 256, 32, 4, 9).softmax(-1)[:, :, :-1]  # steps with a next state
    next_cells = torch.from_numpy(obs[:, 1:, 0].reshape(256, 31, 4, 9).argmax(-1))
    p_true = probs.gather(-1, next_cells.expand(3, -1, -1, -1)[..., None])[..., 0].mean(dim=(1, 2))  # [model, entity]
    for j in range(2):
        assert p_true[0, j] > 0.6
        assert 0.15 < p_true[1 + j, j] < 0.3

    immediate, future = est.influence_parts(obs, actions, rewards)
    np.testing.assert_allclose(est.influence(obs, actions, rewards), immediate + 0.99 * future, rtol=1e-5, atol=1e-5)
    assert np.abs(future.mean(axis=(0, 1))).max() < 0.1

    clone = CoinTransitionInfluence(minibatch_size=512, num_minibatches=16, epochs=10, seed=3)
    clone.set_state(pickle.loads(pickle.dumps(est.get_state())))
    np.testing.assert_array_equal(clone.influence(obs, actions, rewards), est.influence(obs, actions, rewards))
    assert len(clone.replay) == 2
