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


@pytest.mark.parametrize(
    "critic_loss, huber_delta, low, high",
    [("mse", 1.0, 2.4e5, 2.6e5), ("huber", 1.0, 240.0, 260.0), ("huber", 0.1, 24.0, 26.0)],
)
def test_td_loss_of_a_reward_outlier(critic_loss: str, huber_delta: float, low: float, high: float) -> None:
    model = ADPO("MlpPolicy", "Pendulum-v1", critic_loss=critic_loss, huber_delta=huber_delta, seed=0)
    # Untrained critics give Q ~ 0, so the TD error is ~1000 on one of four samples: MSE ~ 1000**2 / 4,
    # Huber ~ delta * (1000 - delta / 2) / 4; both critics' losses are averaged.
    loss = model._critic_step(_batch_with_an_outlier(1000.0, model.device)).item()
    assert low < loss < high


def test_huber_delta_bounds_the_outliers_gradient() -> None:
    """Past ``huber_delta`` a TD error pulls the critic by ``delta`` per sample however large it is."""
    grads = {}
    for delta in (1.0, 0.1):
        for outlier in (100.0, 1000.0):
            model = ADPO("MlpPolicy", "Pendulum-v1", critic_loss="huber", huber_delta=delta, seed=0)
            model._critic_step(_batch_with_an_outlier(outlier, model.device))
            grads[delta, outlier] = th.cat([p.grad.flatten() for p in model.critic.parameters() if p.grad is not None])
    for delta in (1.0, 0.1):
        assert th.allclose(grads[delta, 100.0], grads[delta, 1000.0], atol=1e-6)
    # The outlier's pull scales with delta (the other three TD errors are near zero, inside both quadratic zones).
    assert grads[0.1, 1000.0].norm() < 0.2 * grads[1.0, 1000.0].norm()


def test_critic_loss_is_saved_with_the_model(tmp_path) -> None:
    ADPO("MlpPolicy", "Pendulum-v1", critic_loss="huber", huber_delta=0.1, seed=0).save(tmp_path / "model.zip")
    loaded = ADPO.load(tmp_path / "model.zip")
    assert (loaded.critic_loss, loaded.huber_delta) == ("huber", 0.1)


def test_model_saved_without_huber_delta_loads_with_smooth_l1(tmp_path) -> None:
    """A model saved before ``huber_delta`` existed has no such entry in its data: it loads with delta 1."""
    model = ADPO("MlpPolicy", "Pendulum-v1", critic_loss="huber", huber_delta=0.1, seed=0)
    del model.huber_delta  # the instance value; what is left is the class's default
    model.save(tmp_path / "model.zip", exclude=["huber_delta"])
    assert ADPO.load(tmp_path / "model.zip").huber_delta == 1.0
