"""``policy_kwargs=dict(critic_layer_norm=True)``: LayerNorm in every hidden layer of the critics and their targets."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from torch import nn

from adpo_rl import ADPO

ENV_IDS = ["CartPole-v1", "Pendulum-v1"]


def _q_values(model: ADPO, observations: np.ndarray) -> th.Tensor:
    """Both critics' values at ``observations`` (all arms for Discrete, the actor's mean action for Box)."""
    obs = th.as_tensor(observations, dtype=th.float32, device=model.device)
    with th.no_grad():
        if isinstance(model.action_space, spaces.Discrete):
            return th.stack(model.critic(obs))
        actions = model.actor(obs, deterministic=True)
        return th.stack(model.critic(obs, actions))


def _trained_small_model(env_id: str, seed: int, layer_norm: bool) -> ADPO:
    """A small ADPO model after 200 steps (150 of them with updates), with or without LayerNorm critics."""
    model = ADPO(
        "MlpPolicy",
        env_id,
        learning_starts=50,
        batch_size=32,
        group_size=4,
        seed=seed,
        policy_kwargs=dict(net_arch=[32, 32], critic_layer_norm=layer_norm),
    )
    model.learn(200)
    return model


def _count_layer_norms(module: nn.Module) -> int:
    return sum(isinstance(layer, nn.LayerNorm) for layer in module.modules())


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_layer_norm_in_every_hidden_layer_of_critics_and_targets(env_id: str) -> None:
    kwargs = dict(net_arch=[32, 16, 8])
    model = ADPO("MlpPolicy", env_id, seed=0, policy_kwargs=dict(critic_layer_norm=True, **kwargs))
    # 2 critics x 3 hidden layers, in the critics and in their polyak targets; the actor and anchor are untouched.
    assert _count_layer_norms(model.critic) == 6
    assert _count_layer_norms(model.critic_target) == 6
    assert _count_layer_norms(model.actor) == 0 and _count_layer_norms(model.policy.anchor) == 0
    for q_net in model.critic.q_networks:
        layers = list(q_net)
        norms = [i for i, layer in enumerate(layers) if isinstance(layer, nn.LayerNorm)]
        # Each norm sits between a hidden linear layer and its activation; the output layer stays linear.
        assert all(isinstance(layers[i - 1], nn.Linear) and isinstance(layers[i + 1], nn.ReLU) for i in norms)
        assert isinstance(layers[-1], nn.Linear)

    default = ADPO("MlpPolicy", env_id, seed=0, policy_kwargs=kwargs)
    assert _count_layer_norms(default.critic) == 0 and _count_layer_norms(default.critic_target) == 0


def _value_bound(q_net: nn.Sequential) -> float:
    """``||w|| * (max|gamma| * sqrt(width) + ||beta||) + |b|`` of the output layer ``(w, b)`` and the last norm
    ``(gamma, beta)``; a normalised vector has norm ``sqrt(width)``, and ReLU does not increase it. Without a norm,
    ``gamma = 1`` and ``beta = 0``."""
    out = q_net[-1]
    norms = [layer for layer in q_net if isinstance(layer, nn.LayerNorm)]
    gamma, beta = (norms[-1].weight.abs().max().item(), norms[-1].bias.norm().item()) if norms else (1.0, 0.0)
    return out.weight.norm(dim=1).max().item() * (gamma * np.sqrt(out.in_features) + beta) + out.bias.abs().max().item()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_values_stay_bounded_on_far_away_inputs(env_id: str) -> None:
    """With the norm every value is within the bound of its last layers, for any input (here after some training, so
    the norm's scale and shift have moved); without it a far-away observation gives values that grow with its scale."""
    observations = 1e6 * np.ones((8, *gym.make(env_id).observation_space.shape), dtype=np.float32)
    for layer_norm in (True, False):
        model = _trained_small_model(env_id, seed=0, layer_norm=layer_norm)
        q_values = _q_values(model, observations)
        assert th.isfinite(q_values).all()
        for values, q_net in zip(q_values, model.critic.q_networks, strict=True):
            if layer_norm:
                assert values.abs().max().item() <= _value_bound(q_net)
            else:
                assert values.abs().max().item() > 100 * _value_bound(q_net)


def test_polyak_targets_follow_the_norm_parameters() -> None:
    model = ADPO(
        "MlpPolicy",
        "CartPole-v1",
        learning_starts=50,
        batch_size=32,
        tau=0.5,
        seed=0,
        policy_kwargs=dict(net_arch=[16], critic_layer_norm=True),
    )
    model.learn(300)
    critic_norm = next(layer for layer in model.critic.q_networks[0] if isinstance(layer, nn.LayerNorm))
    target_norm = next(layer for layer in model.critic_target.q_networks[0] if isinstance(layer, nn.LayerNorm))
    # Trained away from their initial 1s and followed by the target (tau 0.5: the target lags by a few steps only).
    assert not th.allclose(critic_norm.weight, th.ones_like(critic_norm.weight))
    assert not th.allclose(target_norm.weight, th.ones_like(target_norm.weight))
    th.testing.assert_close(target_norm.weight, critic_norm.weight, atol=0.05, rtol=0.0)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_save_load_keeps_the_normed_critics(tmp_path: Path, env_id: str) -> None:
    model = _trained_small_model(env_id, seed=1, layer_norm=True)
    observations = np.stack([model.observation_space.sample() for _ in range(10)])

    model.save(tmp_path / "adpo")
    loaded = ADPO.load(tmp_path / "adpo")

    assert loaded.policy.critic_layer_norm is True
    assert _count_layer_norms(loaded.critic_target) == 4
    th.testing.assert_close(_q_values(loaded, observations), _q_values(model, observations))
