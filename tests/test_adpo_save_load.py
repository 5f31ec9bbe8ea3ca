"""Save and load keep everything a user relies on: predictions, the anchor, optimiser state and training counters."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch as th

from adpo_rl import ADPO


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
@pytest.mark.parametrize("anchor", ["fixed", "kl_triggered"])
def test_save_load_identical(tmp_path: Path, env_id: str, anchor: str) -> None:
    model = ADPO(
        "MlpPolicy",
        env_id,
        learning_starts=50,
        batch_size=32,
        group_size=4,
        anchor=anchor,
        seed=1,
        policy_kwargs=dict(net_arch=[32, 32]),
    )
    model.learn(300)
    observations = np.stack([model.observation_space.sample() for _ in range(20)])
    actions, _ = model.predict(observations, deterministic=True)

    model.save(tmp_path / "adpo")
    loaded = ADPO.load(tmp_path / "adpo", env=model.get_env())

    loaded_actions, _ = loaded.predict(observations, deterministic=True)
    np.testing.assert_array_equal(actions, loaded_actions)
    for key, value in model.policy.state_dict().items():
        th.testing.assert_close(value, loaded.policy.state_dict()[key], msg=f"{key} differs after loading")
    # The anchor is part of the saved policy and differs from the actor after training with a fixed anchor.
    anchor_keys = [key for key in loaded.policy.state_dict() if key.startswith("anchor.")]
    assert anchor_keys
    assert loaded.anchor == anchor
    assert loaded._anchor_updates == model._anchor_updates
    assert loaded.actor.optimizer.state_dict()["state"], "actor optimizer state was not restored"
    assert loaded.group_size == 4 and loaded.num_timesteps == 300

    # Loaded model keeps training.
    loaded.learn(100, reset_num_timesteps=False)
    assert loaded.num_timesteps == 400


def test_fixed_anchor_survives_save_load(tmp_path: Path) -> None:
    model = ADPO("MlpPolicy", "CartPole-v1", learning_starts=20, batch_size=16, anchor="fixed", seed=0)
    initial_anchor = {k: v.clone() for k, v in model.policy.anchor.state_dict().items()}
    model.learn(200)
    model.save(tmp_path / "m.zip")
    loaded = ADPO.load(tmp_path / "m.zip")
    for key, value in loaded.policy.anchor.state_dict().items():
        th.testing.assert_close(value, initial_anchor[key])
    # actor moved away from the anchor
    actor_state = loaded.policy.actor.state_dict()
    assert any(not th.equal(actor_state[k], initial_anchor[k]) for k in initial_anchor)


def test_loading_an_n_step_model_keeps_n_step_returns_without_warnings(tmp_path: Path) -> None:
    from stable_baselines3.common.buffers import NStepReplayBuffer

    model = ADPO("MlpPolicy", "CartPole-v1", learning_starts=20, batch_size=16, group_size=4, n_steps=3, seed=0)
    model.save(tmp_path / "m.zip")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = ADPO.load(tmp_path / "m.zip", env=model.get_env())
    assert isinstance(loaded.replay_buffer, NStepReplayBuffer) and loaded.replay_buffer.n_steps == 3
