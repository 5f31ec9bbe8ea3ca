"""
Raw environment throughput: steps per second of N copies stepped with random actions.

Compares, in one run, the batched ContextualBandit (gymnasium vector env and SB3 VecEnv faces) with gymnasium's
CartPoleVectorEnv (its fastest numpy vector env) and with the same bandit looped in SB3's DummyVecEnv.
Actions are drawn before timing, so only the env is measured. Not a test: numbers depend on the machine.

    python benchmarks/env_speed.py --num-envs 1024 --steps 2000
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import adpo_rl.envs
import gymnasium as gym
import numpy as np
from adpo_rl.envs import make_bandit_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv


def steps_per_second(step: Callable[[np.ndarray], object], actions: np.ndarray, repeats: int) -> float:
    """
    Best of ``repeats`` timed passes over ``actions`` (shape ``[T, N]``), in env steps (T * N) per second.

    :param step: steps all copies with one row of actions
    :param actions: pre-drawn actions
    :param repeats: number of timed passes
    :return: env steps per second
    """
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for row in actions:
            step(row)
        best = min(best, time.perf_counter() - start)
    return actions.size / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-envs", type=int, default=1024, help="copies stepped together (N)")
    parser.add_argument("--steps", type=int, default=2000, help="vector steps per timed pass (batched envs)")
    parser.add_argument("--dummy-steps", type=int, default=50, help="vector steps per timed pass (DummyVecEnv)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes; the best is reported")
    parser.add_argument("--noise", default="none", help="noise of the bandit (none, gaussian, cauchy, flip, shift)")
    parser.add_argument("--severity", default="medium", help="severity of the noise")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = args.num_envs
    rng = np.random.default_rng(args.seed)
    bandit_id = adpo_rl.envs.CONTEXTUAL_BANDIT_ID
    kwargs = {"noise": args.noise, "severity": args.severity}
    n_arms = gym.make(bandit_id, **kwargs).action_space.n
    results: dict[str, float] = {}

    cartpole = gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point")
    cartpole.reset(seed=args.seed)
    results["CartPoleVectorEnv (gymnasium)"] = steps_per_second(
        cartpole.step, rng.integers(0, 2, size=(args.steps, n)), args.repeats
    )

    bandit_actions = rng.integers(0, n_arms, size=(args.steps, n))
    vector = gym.make_vec(bandit_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
    vector.reset(seed=args.seed)
    results["ContextualBandit gym.make_vec"] = steps_per_second(vector.step, bandit_actions, args.repeats)

    sb3_raw = make_bandit_vec_env(bandit_id, n_envs=n, seed=args.seed, episode_stats=False, **kwargs)
    sb3_raw.reset()
    results["ContextualBandit SB3 VecEnv"] = steps_per_second(sb3_raw.step, bandit_actions, args.repeats)

    sb3_stats = make_bandit_vec_env(bandit_id, n_envs=n, seed=args.seed, episode_stats=True, **kwargs)
    sb3_stats.reset()
    results["ContextualBandit SB3 VecEnv + episode stats"] = steps_per_second(sb3_stats.step, bandit_actions, args.repeats)

    dummy = DummyVecEnv([lambda: gym.make(bandit_id, **kwargs) for _ in range(n)])
    dummy.seed(args.seed)
    dummy.reset()
    results["ContextualBandit DummyVecEnv"] = steps_per_second(dummy.step, bandit_actions[: args.dummy_steps], args.repeats)

    cartpole_rate = results["CartPoleVectorEnv (gymnasium)"]
    dummy_rate = results["ContextualBandit DummyVecEnv"]
    print(f"N={n}, noise={args.noise}/{args.severity}, numpy {np.__version__}, gymnasium {gym.__version__}, "
          f"{platform.processor() or platform.machine()}")
    print(f"| env (N={n}, random actions) | steps/s | vs CartPoleVectorEnv | vs DummyVecEnv |")
    print("|---|---:|---:|---:|")
    for name, rate in results.items():
        print(f"| {name} | {rate:,.0f} | {rate / cartpole_rate:.2f}x | {rate / dummy_rate:.1f}x |")


if __name__ == "__main__":
    main()
