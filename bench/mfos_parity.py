"""Parity of M-FOS's analytic IPD pieces with the official code (luchris429/model-free-opponent-shaping, ``src/``).

The official ``environments.py`` and ``ppo.py`` are extracted from a git checkout of the official repository
(``git archive``, into a temporary folder) and imported here, in this library's venv (they need only torch;
without a GPU they run on the CPU). Compared on the same inputs, each printed beside ours with the relative
difference ``max |ours - official| / max |official|``:

1. ``ipd_batched``'s ``Ls`` (L_1, L_2, M) against ``ipd_losses`` on random logits;
2. ``MetaGames(opponent="NL").step`` against ``AnalyticMetaIPD.step`` from the same naive learners and
   actions (observation, both rewards, the learner after its step), and a whole 100-step meta-episode; and
   ``NonMfosMetaGames`` (naive learner vs naive learner, ``main_non_mfos.py``) against ``naive_pair_rewards``,
   each on its own random draws of 8192 games (a statistical match, not the same numbers);
3. ``ActorCritic.evaluate`` (log-prob, entropy, value) against ``MFOSTorchRLModule`` with RLlib's
   ``TorchDiagGaussian``, same weights;
4. one ``PPO.update`` (4 full-batch epochs on a meta-episode the official policy played) against one update of
   ``MFOS``'s learner (``OfficialPPOTorchLearner``) on the same meta-episode from the same weights: the
   parameter change of each network (actor, critic), ``max |dtheta_ours - dtheta_official| / max |dtheta_official|``
   and ``|dtheta_ours - dtheta_official| / |dtheta_official|``. In float32 a few elements whose gradient is a
   near-cancelling sum move by Adam's ``+-lr`` in opposite directions in the two programs (see
   ``bench/official_parity.py``), which sets the max-norm figure; the 2-norm shows the update as a whole.

Not part of the tests (it needs the official repository)::

    git clone https://github.com/luchris429/model-free-opponent-shaping /tmp/mfos-official
    python bench/mfos_parity.py --repo /tmp/mfos-official [--games 256] [--json parity.json]

``--repo`` is any git directory of it (a bare mirror works).
"""

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def official_modules(repo: str, workdir: str):
    """The official ``environments`` and ``ppo`` modules, from ``repo``'s HEAD."""
    archive = subprocess.run(["git", "-C", repo, "archive", "HEAD", "src/environments.py", "src/ppo.py"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", workdir], input=archive, check=True)
    sys.path.insert(0, os.path.join(workdir, "src"))
    return importlib.import_module("environments"), importlib.import_module("ppo")


def rel(ours, official) -> float:
    ours, official = (np.asarray(torch.as_tensor(x).detach(), np.float64) for x in (ours, official))
    return float(np.abs(ours - official).max() / max(np.abs(official).max(), 1e-30))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="git directory of the official M-FOS repository")
    parser.add_argument("--games", type=int, default=256, help="games per batch (default 256)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from rllib_ext.algorithms.mfos.analytic_ipd import AnalyticMetaIPD, ipd_losses, naive_pair_rewards
    from rllib_ext.algorithms.mfos.torch.mfos_torch_rl_module import MFOSTorchRLModule

    rows = []

    def report(name, ours, official):
        r = rel(ours, official)
        a, b = (np.asarray(torch.as_tensor(x).detach(), np.float64).ravel()[0] for x in (ours, official))
        rows.append({"check": name, "ours": a, "official": b, "rel_diff": r})
        print(f"{name:<44} {a:>13.7g} {b:>13.7g} {r:>10.2e}", flush=True)

    with tempfile.TemporaryDirectory() as workdir:
        envs, ppo = official_modules(args.repo, workdir)
        B = args.games
        torch.manual_seed(args.seed)
        print(f"{'check (first element shown)':<44} {'ours':>13} {'official':>13} {'rel diff':>10}")

        # 1. the exact game values
        th_1, th_2 = torch.randn(1000, 5) * 2, torch.randn(1000, 5) * 2
        off = envs.ipd_batched(1000, gamma_inner=0.96)[1]([th_1, th_2])
        ours = ipd_losses(th_1, th_2, 0.96)
        for name, o, f in zip(("L_1", "L_2", "M"), ours, (off[0].squeeze(-1), off[1].squeeze(-1), off[2].squeeze(1))):
            report(f"ipd_batched {name} (1000 random pairs)", o, f)

        # 2. meta-steps: the official NL's step and outputs from the same state
        official_game = envs.MetaGames(B, opponent="NL", game="IPD")
        official_game.reset()
        game = AnalyticMetaIPD(B, seed=args.seed)
        game.reset()
        game.th_nl = official_game.inner_th_ba.detach().clone()
        a = torch.randn(B, 5)
        state, reward, opp_reward, _ = official_game.step(a)
        obs, our_reward, info = game.step(a.numpy())
        report("meta-step observation", obs, state)
        report("meta-step M-FOS reward", our_reward, reward.squeeze(-1))
        report("meta-step NL reward", info["reward_per_step"][:, 1], opp_reward.squeeze(-1))
        report("NL logits after its step", game.th_nl, official_game.inner_th_ba)
        totals = []
        for _ in range(99):
            a = torch.randn(B, 5)
            state, reward, opp_reward, _ = official_game.step(a)
            obs, our_reward, info = game.step(a.numpy())
            totals.append((our_reward, reward.squeeze(-1).numpy()))
        report("meta-episode M-FOS return (100 steps)", sum(t[0] for t in totals), sum(t[1] for t in totals))
        report("NL logits after 100 steps", game.th_nl, official_game.inner_th_ba)

        # 2b. the level without M-FOS: naive learner vs naive learner (main_non_mfos.py), different draws
        pair = envs.NonMfosMetaGames(8192, p1="NL", p2="NL", game="IPD")
        pair.reset()
        official_pair = []
        for _ in range(100):
            _, r1, r2, _ = pair.step()
            official_pair.append(torch.stack([r1.squeeze(-1), r2.squeeze(-1)], -1).detach().mean(0))
        report("NL vs NL reward per step (8192 games, own draws)", naive_pair_rewards(8192, seed=args.seed).mean(0),
               torch.stack(official_pair).mean(0))

        # 3. the Gaussian policy and the critic, same weights
        official_ppo = ppo.PPO(10, 5, 0.002, (0.9, 0.999), 0.99, 4, 0.2, 0.01)
        import gymnasium as gym

        module = MFOSTorchRLModule(observation_space=gym.spaces.Box(0, 1, (10,)),
                                   action_space=gym.spaces.Box(-np.inf, np.inf, (5,)), model_config={"hidden": 256})
        module.load_state_dict(official_ppo.policy.state_dict())
        s, act = torch.rand(B, 10), torch.randn(B, 5) * 2
        logp, values, entropy = official_ppo.policy.evaluate(s, act)
        dist = module.get_train_action_dist_cls().from_logits(module.forward_train({"obs": s})["action_dist_inputs"])
        report("log-prob", dist.logp(act), logp)
        report("entropy", dist.entropy(), entropy)
        report("value", module.compute_values({"obs": s}), values)

        # 4. one PPO update on a meta-episode the official policy played
        report_update(args, official_game, official_ppo, ppo, report, rows)

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"games": args.games, "seed": args.seed, "rows": rows}, f, indent=2)


def report_update(args, official_game, official_ppo, ppo, report, rows) -> None:
    import ray

    from rllib_ext.algorithms.mfos import MFOSConfig

    B, T = args.games, 100
    memory = ppo.Memory()
    states = [official_game.reset()]
    for _ in range(T):
        action = official_ppo.policy_old.act(states[-1], memory)
        state, reward, _, _ = official_game.step(action)
        memory.rewards.append(reward)
        states.append(state)
    obs = torch.stack(states, 1)[:, :, None].detach().numpy()  # [B, T + 1, 1, 10]
    actions = torch.stack(memory.actions, 1)[:, :, None].detach().numpy()
    rewards = torch.stack(memory.rewards, 1).squeeze(-1)[:, :, None].detach().numpy()
    logp = torch.stack(memory.logprobs, 1)[:, :, None].detach().numpy()

    ray.init(num_cpus=1, include_dashboard=False, logging_level="ERROR")
    try:
        algo = MFOSConfig().env_runners(num_envs_per_env_runner=B).debugging(seed=args.seed).build_algo()
        learner = algo.learner_group._learner
        module = learner.module["player_0"]
        start = {k: v.clone() for k, v in official_ppo.policy.state_dict().items()}
        module.load_state_dict(start)
        runner = algo.env_runner
        dist_inputs = {0: module.forward_inference({"obs": torch.from_numpy(obs[:, :T, 0])})[
            "action_dist_inputs"].detach().numpy()}
        episodes = [runner._episode(b, ["player_0"], obs, actions, rewards, logp, dist_inputs) for b in range(B)]
        algo.learner_group.update(episodes=episodes, num_epochs=4, minibatch_size=B * T)
        official_ppo.update(memory)
        ours, official = module.state_dict(), official_ppo.policy.state_dict()
        for net in ("actor", "critic"):
            keys = [k for k in start if k.startswith(net)]
            d_ours = torch.cat([(ours[k] - start[k]).ravel() for k in keys])
            d_off = torch.cat([(official[k] - start[k]).ravel() for k in keys])
            report(f"PPO update: {net} parameter change", d_ours, d_off)
            report(f"PPO update: {net} change, norm", d_ours.norm(), d_off.norm())
            norm_rel = float((d_ours - d_off).norm() / d_off.norm())
            rows.append({"check": f"PPO update: {net} |d_ours - d_official| / |d_official|", "rel_diff": norm_rel})
            print(f"{'  |d_ours - d_official| / |d_official|':<72} {norm_rel:>10.2e}", flush=True)
        algo.stop()
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
