"""Bad hyperparameters and unsupported spaces fail early with a message naming the bad value and the valid ones."""

import re

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from adpo_rl import ADPO


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(group_size=1), "group_size must be an integer >= 2"),
        (dict(group_size=2.5), "group_size must be an integer >= 2"),
        (dict(temperature=0.0), "temperature must be > 0"),
        (dict(temperature=-1.0), "temperature must be > 0"),
        (dict(beta=0.0), "beta must be a finite number > 0"),
        (
            dict(anchor="sometimes"),
            "Unknown anchor 'sometimes'; valid choices are: 'fixed', 'on_policy', 'ema', 'kl_triggered'",
        ),
        (dict(loss="hinge"), "Unknown loss 'hinge'; valid choices are: 'listwise', 'pairwise', 'plackett_luce'"),
        (dict(target="median"), "Unknown target 'median'; valid choices are: 'soft', 'hard', 'kde'"),
        (dict(normalize="minmax"), "Unknown normalize 'minmax'"),
        (dict(adaptive_temperature=dict(c=1.0)), "Unknown adaptive_temperature keys"),
        (dict(critic_loss="l1"), "Unknown critic_loss 'l1'; valid choices are: 'mse', 'huber'"),
        (dict(huber_delta=0.0), "huber_delta must be a finite number > 0, got 0.0"),
        (dict(huber_delta=float("inf")), "huber_delta must be a finite number > 0, got inf"),
        (dict(huber_delta="0.1"), "huber_delta must be a finite number > 0, got '0.1'"),
        (dict(ent_coef=-0.1), "ent_coef must be a finite number >= 0 (0: no entropy bonus), got -0.1"),
        (dict(ent_coef=float("nan")), "ent_coef must be a finite number >= 0"),
        (dict(ent_coef="auto"), "ent_coef must be a finite number >= 0 (0: no entropy bonus), got 'auto'"),
        (dict(exploration_floor=1.5), "exploration_floor must be a probability in [0, 1] (0: sample the policy only)"),
        (dict(exploration_floor=-0.1), "exploration_floor must be a probability in [0, 1]"),
        (dict(exploration_floor=float("nan")), "exploration_floor must be a probability in [0, 1]"),
        (dict(exploration_floor="eps"), "exploration_floor must be a probability in [0, 1]"),
        (
            dict(exploration_floor=lambda progress: 2.0 * (1.0 - progress)),
            "exploration_floor's schedule at progress_remaining=0.0 must be a probability in [0, 1], got 2.0",
        ),
        (dict(exploration_floor=lambda _: "eps"), "exploration_floor's schedule at progress_remaining=1.0 must be a"),
    ],
)
def test_invalid_hyperparameters(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        ADPO("MlpPolicy", "CartPole-v1", **kwargs)


def test_invalid_anchor_kwargs() -> None:
    with pytest.raises(ValueError):
        ADPO("MlpPolicy", "CartPole-v1", anchor="ema", anchor_kwargs=dict(rate=2.0))


class _SpaceEnv(gym.Env):
    def __init__(self, action_space: spaces.Space) -> None:
        self.observation_space = spaces.Box(-1, 1, (3,), np.float32)
        self.action_space = action_space

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, np.float32), {}

    def step(self, action):
        return np.zeros(3, np.float32), 0.0, True, False, {}


@pytest.mark.parametrize(
    "action_space",
    [spaces.MultiDiscrete([2, 3]), spaces.MultiBinary(3), spaces.Dict({"a": spaces.Discrete(2)})],
)
def test_unsupported_action_space(action_space: spaces.Space) -> None:
    expected = r"ADPO does not support the action space .*; supported action spaces are: Discrete, Box"
    with pytest.raises(ValueError, match=expected):
        ADPO("MlpPolicy", _SpaceEnv(action_space))


class _NanRewardEnv(_SpaceEnv):
    def __init__(self) -> None:
        super().__init__(spaces.Discrete(2))

    def step(self, action):
        return np.zeros(3, np.float32), float("nan"), True, False, {}


def test_nan_reward_is_a_clear_error() -> None:
    model = ADPO("MlpPolicy", _NanRewardEnv(), learning_starts=10)
    with pytest.raises(ValueError, match="non-finite reward"):
        model.learn(20)
    assert model.replay_buffer.size() == 0


def test_a_diverging_loss_stops_training_with_a_clear_error() -> None:
    model = ADPO("MlpPolicy", "CartPole-v1", learning_starts=20, batch_size=8, seed=0)
    model._preference_loss = lambda *args: torch.tensor(float("nan"), requires_grad=True)
    with pytest.raises(FloatingPointError, match=r"listwise loss became non-finite .* lower the learning rate"):
        model.learn(50)
