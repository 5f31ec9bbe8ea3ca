"""
Raw environment throughput: steps per second of N copies stepped with random actions.

Compares, in one run, the batched ContextualBandit (gymnasium vector env and SB3 VecEnv faces) with gymnasium's
CartPoleVectorEnv (its fastest numpy vector env) and with the same bandit looped in SB3's DummyVecEnv.
Actions are drawn before timing, so only the env is measured. Not a test: numbers depend on the machine.

    python benchmarks/env_speed.py --num-envs 1024 --steps 2000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv
from train_one import cpu_model

import adpo_rl.envs
from adpo_rl.envs import make_bandit_vec_env


def time_pass(step: Callable[[np.ndarray], object], actions: np.ndarray) -> float:
    """
    Seconds to step through ``actions`` (shape ``[T, N]``, one row per vector step).

    :param step: steps all copies with one row of actions
    :param actions: pre-drawn actions
    :return: elapsed seconds
    """
    start = time.perf_counter()
    for row in actions:
        step(row)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-envs", type=int, default=1024, help="copies stepped together (N)")
    parser.add_argument("--steps", type=int, default=2000, help="vector steps per timed pass (batched envs)")
    parser.add_argument("--dummy-steps", type=int, default=50, help="vector steps per timed pass (DummyVecEnv)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timed rounds; the best is reported")
    parser.add_argument("--noise", default="none", help="noise of the bandit (none, gaussian, cauchy, flip, shift)")
    parser.add_argument("--severity", default="medium", help="severity of the noise")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = args.num_envs
    rng = np.random.default_rng(args.seed)
    bandit_id = adpo_rl.envs.CONTEXTUAL_BANDIT_ID
    kwargs = {"noise": args.noise, "severity": args.severity}
    n_arms = gym.make(bandit_id, **kwargs).action_space.n
    cartpole = gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point")
    cartpole.reset(seed=args.seed)
    vector = gym.make_vec(bandit_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
    vector.reset(seed=args.seed)
    sb3_raw = make_bandit_vec_env(bandit_id, n_envs=n, seed=args.seed, episode_stats=False, **kwargs)
    sb3_raw.reset()
    sb3_stats = make_bandit_vec_env(bandit_id, n_envs=n, seed=args.seed, episode_stats=True, **kwargs)
    sb3_stats.reset()
    dummy = DummyVecEnv([lambda: gym.make(bandit_id, **kwargs) for _ in range(n)])
    dummy.seed(args.seed)
    dummy.reset()

    cartpole_actions = rng.integers(0, 2, size=(args.steps, n))
    bandit_actions = rng.integers(0, n_arms, size=(args.steps, n))
    contenders = {
        "CartPoleVectorEnv (gymnasium)": (cartpole.step, cartpole_actions),
        "ContextualBandit gym.make_vec": (vector.step, bandit_actions),
        "ContextualBandit SB3 VecEnv": (sb3_raw.step, bandit_actions),
        "ContextualBandit SB3 VecEnv + episode stats": (sb3_stats.step, bandit_actions),
        "ContextualBandit DummyVecEnv": (dummy.step, bandit_actions[: args.dummy_steps]),
    }
    # Rounds interleave the contenders, so a change of machine load hits all of them alike; the best round counts.
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(args.repeats):
        for name, (step, actions) in contenders.items():
            best[name] = min(best[name], time_pass(step, actions))
    results = {name: contenders[name][1].size / seconds for name, seconds in best.items()}

    cartpole_rate = results["CartPoleVectorEnv (gymnasium)"]
    dummy_rate = results["ContextualBandit DummyVecEnv"]
    print(f"N={n}, noise={args.noise}/{args.severity}, numpy {np.__version__}, gymnasium {gym.__version__}, {cpu_model()}")
    print(f"| env (N={n}, random actions) | steps/s | vs CartPoleVectorEnv | vs DummyVecEnv |")
    print("|---|---:|---:|---:|")
    for name, rate in results.items():
        print(f"| {name} | {rate:,.0f} | {rate / cartpole_rate:.2f}x | {rate / dummy_rate:.1f}x |")


if __name__ == "__main__":
    main()
