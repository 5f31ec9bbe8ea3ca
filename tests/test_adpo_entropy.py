"""The entropy bonus: exact entropies of both actors, a wider policy with ``ent_coef > 0``, kept across save/load."""

from pathlib import Path

import numpy as np
import pytest
import torch as th
from torch.distributions import Categorical, Normal

from adpo_rl import ADPO


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_actor_entropy_is_exact(env_id: str) -> None:
    model = ADPO("MlpPolicy", env_id, seed=0, policy_kwargs=dict(log_std_init=-0.5) if env_id == "Pendulum-v1" else None)
    obs = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(8)]), device=model.device)
    with th.no_grad():
        params = model.actor.distribution_params(obs)
        entropy = model.actor.entropy(params)
    if env_id == "CartPole-v1":
        expected = Categorical(logits=params).entropy()
    else:
        expected = Normal(params[:, 0], params[:, 1].exp()).entropy().sum(-1)
    assert entropy.shape == (8,)
    th.testing.assert_close(entropy, expected)


def _entropy_after_training(ent_coef: float) -> float:
    model = ADPO(
        "MlpPolicy",
        "Pendulum-v1",
        learning_starts=100,
        batch_size=64,
        group_size=8,
        ent_coef=ent_coef,
        seed=0,
        policy_kwargs=dict(net_arch=[32, 32]),
    )
    model.learn(800)
    observations = th.as_tensor(model.replay_buffer.observations[:800, 0], device=model.device)
    with th.no_grad():
        return float(model.actor.entropy(model.actor.distribution_params(observations)).mean())


def test_entropy_bonus_keeps_the_policy_wider() -> None:
    # Without the bonus the Gaussian narrows quickly (entropy ~1.42 at log_std 0); the bonus pushes back.
    plain, bonus = _entropy_after_training(0.0), _entropy_after_training(0.1)
    assert plain < 0.5, f"expected the plain policy to narrow, entropy {plain:.3f}"
    assert bonus > plain + 0.1, f"entropy with the bonus {bonus:.3f} vs {plain:.3f} without"


def test_ent_coef_is_saved_with_the_model(tmp_path: Path) -> None:
    model = ADPO("MlpPolicy", "CartPole-v1", ent_coef=0.05, learning_starts=20, batch_size=16, seed=0)
    model.learn(50)
    model.save(tmp_path / "adpo")
    loaded = ADPO.load(tmp_path / "adpo")
    assert loaded.ent_coef == 0.05
