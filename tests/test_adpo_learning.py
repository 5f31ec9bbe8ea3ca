"""ADPO learns: evaluation-return thresholds on Pendulum-v1 and CartPole-v1 with small budgets and fixed seeds."""

import gymnasium as gym
import numpy as np
from stable_baselines3.common.evaluation import evaluate_policy

from adpo_rl import ADPO


def _evaluate(model: ADPO, env_id: str, n_episodes: int = 10) -> float:
    env = gym.make(env_id)
    env.reset(seed=1234)
    mean_return, _ = evaluate_policy(model, env, n_eval_episodes=n_episodes, deterministic=True)
    return float(mean_return)


def test_pendulum_reaches_minus_250_within_8000_steps() -> None:
    model = ADPO("MlpPolicy", "Pendulum-v1", seed=0)
    model.learn(8_000)
    mean_return = _evaluate(model, "Pendulum-v1")
    assert mean_return >= -250, f"Pendulum mean evaluation return {mean_return:.1f} < -250 after 8,000 steps"


def test_cartpole_reaches_195_within_15000_steps() -> None:
    model = ADPO("MlpPolicy", "CartPole-v1", seed=0)
    model.learn(15_000)
    mean_return = _evaluate(model, "CartPole-v1")
    assert mean_return >= 195, f"CartPole mean evaluation return {mean_return:.1f} < 195 after 15,000 steps"
    assert np.isfinite(mean_return)
