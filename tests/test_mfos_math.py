"""M-FOS's analytic IPD meta-game and its Gaussian against hand-computed numbers and independent references
(the M-FOS brief's unit checks; official ``src/environments.py`` ``ipd_batched`` / ``MetaGames`` and
``src/ppo.py`` ``ActorCritic``). No Ray."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from ray.rllib.models.torch.torch_distributions import TorchDiagGaussian

from rllib_ext.algorithms.mfos.analytic_ipd import AnalyticMetaIPD, ipd_losses, naive_step
from rllib_ext.algorithms.mfos.torch.mfos_torch_rl_module import diag_gaussian_inputs

GAMMA = 0.96
BIG = 40.0  # sigmoid(BIG) = 1 in float32 and float64 alike


def per_step(th_1, th_2):
    l1, l2, _ = ipd_losses(torch.as_tensor(th_1, dtype=torch.float64), torch.as_tensor(th_2, dtype=torch.float64))
    return (-(1 - GAMMA) * l1).numpy(), (-(1 - GAMMA) * l2).numpy()


def rolled_out_values(th_1: np.ndarray, th_2: np.ndarray, horizon: int = 2000) -> np.ndarray:
    """Each player's discounted reward per step ``[B, 2]`` by rolling the outcome distribution forward
    ``horizon`` rounds, each player's policy read in its own (own, other) state order (independent of the
    closed form and of its re-indexing)."""
    sig = lambda x: 1 / (1 + np.exp(-x))
    payoff = np.array([[-1.0, -3.0], [0.0, -2.0]])  # [own, other]
    B = len(th_1)
    # dist[b, r, c]: probability that the row player played r and the column player c (0 = cooperate)
    q1, q2 = sig(th_1[:, 0]), sig(th_2[:, 0])
    dist = np.stack([np.stack([q1 * q2, q1 * (1 - q2)], -1), np.stack([(1 - q1) * q2, (1 - q1) * (1 - q2)], -1)], 1)
    values = np.zeros((B, 2))
    for t in range(horizon):
        values[:, 0] += GAMMA**t * np.einsum("brc,rc->b", dist, payoff)
        values[:, 1] += GAMMA**t * np.einsum("brc,cr->b", dist, payoff)
        nxt = np.zeros_like(dist)
        for r in range(2):
            for c in range(2):
                p1 = sig(th_1[:, 1 + 2 * r + c])  # row player's state (own r, other c)
                p2 = sig(th_2[:, 1 + 2 * c + r])  # column player's state (own c, other r)
                w = dist[:, r, c]
                nxt[:, 0, 0] += w * p1 * p2
                nxt[:, 0, 1] += w * p1 * (1 - p2)
                nxt[:, 1, 0] += w * (1 - p1) * p2
                nxt[:, 1, 1] += w * (1 - p1) * (1 - p2)
        dist = nxt
    return (1 - GAMMA) * values


@pytest.mark.parametrize("th_1, th_2, expected", [
    (BIG, BIG, (-1.0, -1.0)),  # ALL-C vs ALL-C
    (-BIG, -BIG, (-2.0, -2.0)),  # ALL-D vs ALL-D
    (-BIG, BIG, (0.0, -3.0)),  # ALL-D exploits ALL-C
    (BIG, -BIG, (-3.0, 0.0)),
    (0.0, 0.0, (-1.5, -1.5)),  # both cooperate with probability 1/2 everywhere
])
def test_payoffs_of_fixed_policies(th_1, th_2, expected):
    r1, r2 = per_step(np.full((1, 5), th_1), np.full((1, 5), th_2))
    np.testing.assert_allclose([r1[0], r2[0]], expected, atol=1e-9)


def test_closed_form_matches_a_rollout_on_random_policies():
    rng = np.random.default_rng(0)
    th_1, th_2 = rng.normal(0, 2, (200, 5)), rng.normal(0, 2, (200, 5))
    r1, r2 = per_step(th_1, th_2)
    np.testing.assert_allclose(np.stack([r1, r2], -1), rolled_out_values(th_1, th_2), atol=1e-10)
    # float32 (the meta-game's dtype) stays within 1e-5 of the float64 values
    l1, l2, _ = ipd_losses(torch.tensor(th_1, dtype=torch.float32), torch.tensor(th_2, dtype=torch.float32))
    np.testing.assert_allclose(-(1 - GAMMA) * l1.numpy(), r1, atol=1e-5)


def test_visitation_sums_to_the_discounted_horizon():
    th = torch.randn(50, 5, dtype=torch.float64)
    _, _, M = ipd_losses(th, th.flip(0))
    np.testing.assert_allclose(M.sum(-1).numpy(), 1 / (1 - GAMMA), rtol=1e-12)


def test_swapping_the_players_swaps_the_rewards():
    """The column player's logits are re-indexed [0, 1, 3, 2, 4]: its CD is the row player's DC."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 2, (100, 5)), rng.normal(0, 2, (100, 5))
    r_ab, r_ba = per_step(a, b), per_step(b, a)
    np.testing.assert_allclose(r_ab[0], r_ba[1], atol=1e-12)
    np.testing.assert_allclose(r_ab[1], r_ba[0], atol=1e-12)
    _, _, M_ab = ipd_losses(torch.tensor(a), torch.tensor(b))
    _, _, M_ba = ipd_losses(torch.tensor(b), torch.tensor(a))
    np.testing.assert_allclose(M_ab.numpy(), M_ba[:, [0, 2, 1, 3]].numpy(), atol=1e-12)  # CD <-> DC
    # tit-for-tat (cooperate at the start and after the other's C) against ALL-D: exploited once, then DD
    tft = np.array([[BIG, BIG, -BIG, BIG, -BIG]])
    r_tft, r_alld = per_step(tft, np.full((1, 5), -BIG))
    np.testing.assert_allclose([r_tft[0], r_alld[0]], [(1 - GAMMA) * -3 + GAMMA * -2, GAMMA * -2], atol=1e-9)
    np.testing.assert_allclose(per_step(np.full((1, 5), -BIG), tft), (r_alld, r_tft), atol=1e-9)


def test_naive_step_is_one_exact_gradient_step():
    rng = np.random.default_rng(2)
    th, a = rng.normal(0, 1, (8, 5)), rng.normal(0, 1, (8, 5))
    new, l1, l2, _ = naive_step(torch.tensor(th), torch.tensor(a), lr=0.7, gamma=GAMMA)
    # central finite differences of the row player's loss L_1 (the closed form, checked against a rollout above)
    loss = lambda x: ipd_losses(torch.tensor(x), torch.tensor(a), GAMMA)[0].numpy()
    grad = np.zeros_like(th)
    for k in range(5):
        e = np.zeros(5)
        e[k] = 1e-5
        grad[:, k] = (loss(th + e) - loss(th - e)) / 2e-5
    np.testing.assert_allclose(new.numpy(), th - 0.7 * grad, atol=1e-6)
    np.testing.assert_allclose(l1.numpy(), loss(th), atol=1e-12)  # the losses before the step
    np.testing.assert_allclose(-(1 - GAMMA) * l2.numpy(), rolled_out_values(th, a, 800)[:, 1], atol=1e-10)


def test_meta_step_rewards_the_pre_update_opponent_and_shows_it():
    game = AnalyticMetaIPD(num_games=8, num_steps=3, seed=0)
    obs = game.reset()
    assert obs.shape == (8, 10) and game.t == 0
    for _ in range(3):
        before = game.th_nl.clone()
        a = np.random.default_rng(3).normal(size=(8, 5)).astype(np.float32)
        obs, reward, info = game.step(a)
        l_nl, l_mfos, _ = ipd_losses(before, torch.tensor(a))
        np.testing.assert_allclose(reward, -(1 - GAMMA) * l_mfos.numpy(), rtol=1e-6)
        np.testing.assert_allclose(info["reward_per_step"][:, 1], -(1 - GAMMA) * l_nl.numpy(), rtol=1e-6)
        np.testing.assert_allclose(obs, torch.sigmoid(torch.cat([torch.tensor(a), before], -1)).numpy())
        np.testing.assert_allclose(game.th_nl.numpy(), naive_step(before, torch.tensor(a))[0].numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="call reset"):
        game.step(a)
    # reset re-draws the opponent, which has already stepped once against a random M-FOS
    first = game.th_nl.clone()
    obs = game.reset()
    assert not np.allclose(obs[:, 5:], torch.sigmoid(first).numpy())
    assert not np.allclose(game.th_nl.numpy(), torch.logit(torch.tensor(obs[:, 5:])).numpy(), atol=1e-3)


def test_random_mfos_is_exploited_in_the_first_meta_episode():
    """A random M-FOS is exploited: about -2.5 per step (what a 50/50 player gets against a defector), the naive
    learner about -1, and the learner ends up defecting almost always (the brief's measured start with the
    official code, -2.51 vs -0.95 for an untrained M-FOS network, is checked in test_mfos.py)."""
    game = AnalyticMetaIPD(num_games=512, seed=0)
    game.reset()
    rng = np.random.default_rng(0)
    rewards = []
    for _ in range(100):  # an untrained M-FOS: logits around 0 with variance softplus(0) = 0.69
        _, _, info = game.step(rng.normal(0, np.sqrt(np.log(2)), (512, 5)).astype(np.float32))
        rewards.append(info["reward_per_step"])
    mfos, nl = np.mean(rewards, axis=(0, 1))
    assert -2.55 < mfos < -2.45 and -1.05 < nl < -0.90
    assert (torch.sigmoid(game.th_nl).mean(0).numpy() < 0.1).all()


def test_gaussian_with_softplus_variance_matches_the_official_distribution():
    torch.manual_seed(0)
    out = torch.randn(64, 10) * 3
    mean, raw = out[:, :5], out[:, 5:]
    official = torch.distributions.MultivariateNormal(mean, torch.diag_embed(F.softplus(raw)))
    ours = TorchDiagGaussian.from_logits(diag_gaussian_inputs(out))
    x = official.sample()
    torch.testing.assert_close(ours.logp(x), official.log_prob(x), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(ours.entropy(), official.entropy(), rtol=1e-5, atol=1e-4)
    # a hand-computed point: mean 0, raw = softplus^-1(4) (variance 4), x = 2 in every dimension
    raw4 = torch.log(torch.expm1(torch.tensor(4.0)))
    one = TorchDiagGaussian.from_logits(diag_gaussian_inputs(torch.cat([torch.zeros(1, 5), raw4.repeat(1, 5)], -1)))
    expected = 5 * (-0.5 * np.log(2 * np.pi * 4) - 0.5 * 2**2 / 4)
    torch.testing.assert_close(one.logp(torch.full((1, 5), 2.0)), torch.tensor([expected], dtype=torch.float32))
