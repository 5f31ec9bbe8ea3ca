"""Every configuration of ADPO trains a few steps on a discrete and a continuous task (sb3-contrib's test_run style)."""

import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env

from adpo_rl import ADPO
from adpo_rl.anchors import ANCHOR_MODES

ENVS = ["CartPole-v1", "Pendulum-v1"]


def _short_run(env_id: str, **kwargs) -> ADPO:
    model = ADPO("MlpPolicy", env_id, learning_starts=50, batch_size=32, group_size=4, seed=0, **kwargs)
    model.learn(150)
    return model


@pytest.mark.parametrize("env_id", ENVS)
@pytest.mark.parametrize("anchor", ANCHOR_MODES)
def test_every_anchor_mode_trains(env_id: str, anchor: str) -> None:
    model = _short_run(env_id, anchor=anchor, policy_kwargs=dict(net_arch=[32]))
    assert model.num_timesteps == 150
    assert model._n_updates == 150 - 50


@pytest.mark.parametrize("env_id", ENVS)
@pytest.mark.parametrize(
    "loss, target",
    [
        ("listwise", "soft"),
        ("listwise", "hard"),
        ("listwise", "kde"),
        ("pairwise", "soft"),
        ("pairwise", "hard"),
        ("plackett_luce", "soft"),
    ],
)
def test_every_loss_and_target_trains(env_id: str, loss: str, target: str) -> None:
    model = _short_run(env_id, loss=loss, target=target, policy_kwargs=dict(net_arch=[32]))
    params = model.policy.state_dict()
    assert all(th.isfinite(value).all() for value in params.values())


def test_multi_env_and_adaptive_temperature() -> None:
    env = make_vec_env("Pendulum-v1", n_envs=2, seed=0)
    model = ADPO(
        "MlpPolicy",
        env,
        learning_starts=20,
        batch_size=16,
        group_size=4,
        seed=0,
        adaptive_temperature=dict(a=0.5, b=0.5, t_min=0.1, t_max=5.0),
        policy_kwargs=dict(net_arch=[16]),
    )
    model.learn(100)
    assert model.num_timesteps == 100


def test_sampled_groups_on_a_discrete_space_larger_than_the_group() -> None:
    model = ADPO("MlpPolicy", "CartPole-v1", learning_starts=20, batch_size=8, group_size=2, whole_action_set=False, seed=0)
    obs = model.policy.obs_to_tensor(model.env.reset())[0]
    group = model._sample_group(model.policy.anchor.distribution_params(obs))
    assert group.shape == (1, 2)
    model.learn(60)


def test_whole_action_set_is_the_group_for_small_discrete_spaces() -> None:
    model = ADPO("MlpPolicy", "CartPole-v1", group_size=16, seed=0)
    obs = model.policy.obs_to_tensor(model.env.reset())[0]
    group = model._sample_group(model.policy.anchor.distribution_params(obs))
    assert group.tolist() == [[0, 1]]
