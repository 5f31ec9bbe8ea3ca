"""NoisyReward: noisy rewards on any env, observations and termination untouched."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from adpo_rl.envs import NoisyReward


def run(env, seed, actions):
    out = []
    obs, _ = env.reset(seed=seed)
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        out.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            obs, _ = env.reset()
    return out


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
@pytest.mark.parametrize("noise", ["gaussian", "cauchy", "flip"])
def test_observations_and_termination_untouched(env_id, noise):
    plain = gym.make(env_id)
    noisy = NoisyReward(gym.make(env_id), noise=noise, severity="high")
    plain.action_space.seed(0)
    actions = [plain.action_space.sample() for _ in range(300)]
    a, b = run(plain, 1, actions), run(noisy, 1, actions)
    changed = 0
    for (obs, reward, term, trunc, _), (nobs, nreward, nterm, ntrunc, ninfo) in zip(a, b, strict=True):
        np.testing.assert_array_equal(obs, nobs)
        assert (term, trunc) == (nterm, ntrunc)
        assert ninfo["clean_reward"] == reward
        changed += nreward != reward
    assert changed > 0.05 * len(actions)


def test_noise_is_reproducible_from_reset_seed():
    def rewards(seed):
        env = NoisyReward(gym.make("CartPole-v1"), noise="cauchy")
        return [r for _, r, *_ in run(env, seed, [0, 1] * 5)]

    assert rewards(3) == rewards(3)
    assert rewards(3) != rewards(4)


def test_flip_rate_on_generic_env():
    env = NoisyReward(gym.make("CartPole-v1"), noise="flip", severity="medium")
    rewards = np.array([r for _, r, *_ in run(env, 0, [0, 1] * 2000)])
    assert set(np.unique(rewards)) == {-1.0, 1.0}
    assert abs(np.mean(rewards == -1.0) - 0.25) < 0.03


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_env_checkers_pass_on_wrapper(env_id):
    env = NoisyReward(gym.make(env_id).unwrapped, noise="gaussian", severity="low")
    # Warnings about the base envs' own spaces (CartPole's infinite bounds, ...) are not the wrapper's; errors raise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym_check_env(env)
        sb3_check_env(env)


def test_wrapper_rejects_shift_and_unknown_noise():
    with pytest.raises(ValueError, match=r"'shift'.*valid noises for NoisyReward: 'none', 'gaussian', 'cauchy', 'flip'"):
        NoisyReward(gym.make("CartPole-v1"), noise="shift")
    with pytest.raises(ValueError, match=r"'pink'"):
        NoisyReward(gym.make("CartPole-v1"), noise="pink")
