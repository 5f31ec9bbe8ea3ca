"""The critics' TD loss: Huber bounds the pull of a reward outlier (heavy-tailed reward noise), MSE does not."""

import pytest
import torch as th
from stable_baselines3.common.type_aliases import ReplayBufferSamples

from adpo_rl import ADPO


def _batch_with_an_outlier(outlier: float, device: th.device) -> ReplayBufferSamples:
    """Four Pendulum transitions from the zero state, rewards 0, 0, 0 and ``outlier``, on the model's device."""
    zeros = th.zeros(4, 3, device=device)
    rewards = th.tensor([[0.0], [0.0], [0.0], [outlier]], device=device)
    return ReplayBufferSamples(zeros, th.zeros(4, 1, device=device), zeros, th.zeros(4, 1, device=device), rewards)


@pytest.mark.parametrize("critic_loss, low, high", [("mse", 2.4e5, 2.6e5), ("huber", 240.0, 260.0)])
def test_td_loss_of_a_reward_outlier(critic_loss: str, low: float, high: float) -> None:
    model = ADPO("MlpPolicy", "Pendulum-v1", critic_loss=critic_loss, seed=0)
    # Untrained critics give Q ~ 0, so the TD error is ~1000 on one of four samples: MSE ~ 1000**2 / 4,
    # Huber (delta 1) ~ (1000 - 0.5) / 4; both critics' losses are averaged.
    loss = model._critic_step(_batch_with_an_outlier(1000.0, model.device)).item()
    assert low < loss < high


def test_critic_loss_is_saved_with_the_model(tmp_path) -> None:
    ADPO("MlpPolicy", "Pendulum-v1", critic_loss="huber", seed=0).save(tmp_path / "model.zip")
    assert ADPO.load(tmp_path / "model.zip").critic_loss == "huber"
