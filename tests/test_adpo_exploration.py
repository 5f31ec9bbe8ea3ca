"""The exploration floor: rollout actions mix the policy with uniformly random ones; nothing else changes."""

from pathlib import Path

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

from adpo_rl import ADPO
from adpo_rl.agents.config import StepSchedule

N_ENVS, N_CALLS = 8, 250


def _model(env_id: str, exploration_floor: float | StepSchedule) -> ADPO:
    """A model whose policy is pinned: arm 0 on CartPole (probability ~1), the action 0.5 on Pendulum (std ~0)."""
    model = ADPO("MlpPolicy", make_vec_env(env_id, n_envs=N_ENVS, seed=0), exploration_floor=exploration_floor, seed=0)
    with th.no_grad():
        if env_id == "CartPole-v1":
            model.actor.logits.weight.zero_()
            model.actor.logits.bias.copy_(th.tensor([30.0, -30.0]))
        else:
            for layer, bias in ((model.actor.mu, float(np.arctanh(0.5))), (model.actor.log_std, -20.0)):
                layer.weight.zero_()
                layer.bias.fill_(bias)
    model._last_obs = model.env.reset()
    return model


def _rollout_actions(model: ADPO) -> tuple[np.ndarray, np.ndarray]:
    pairs = [model._sample_action(0, None, N_ENVS) for _ in range(N_CALLS)]
    return np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs])


def test_discrete_floor_gives_every_arm_its_share() -> None:
    # Behaviour policy (1 - 0.5) * pi + 0.5 * uniform: arm 1 gets 0.5 / 2 = 0.25 of the 2,000 steps.
    actions, buffer_actions = _rollout_actions(_model("CartPole-v1", 0.5))
    np.testing.assert_array_equal(actions, buffer_actions)
    assert 0.21 < np.mean(actions == 1) < 0.29
    never, _ = _rollout_actions(_model("CartPole-v1", 0.0))
    assert np.all(never == 0), "without the floor the pinned policy only plays arm 0"


def test_box_floor_draws_uniform_actions_and_stores_them_scaled() -> None:
    model = _model("Pendulum-v1", 0.5)
    actions, buffer_actions = _rollout_actions(model)
    on_policy = np.isclose(buffer_actions, 0.5, atol=1e-3)
    assert 0.45 < on_policy.mean() < 0.55
    random_part = buffer_actions[~on_policy]
    assert random_part.min() >= -1 and random_part.max() <= 1
    assert abs(random_part.mean()) < 0.1 and 0.5 < random_part.std() < 0.65  # uniform on [-1, 1]: std 0.577
    np.testing.assert_allclose(actions, 2.0 * buffer_actions, rtol=1e-5, atol=1e-5)  # Pendulum's torque range is [-2, 2]


def test_floor_leaves_deterministic_predictions_alone() -> None:
    model = _model("CartPole-v1", 1.0)
    assert np.all(model.predict(model.env.reset(), deterministic=True)[0] == 0)


def test_exploration_floor_is_saved_with_the_model(tmp_path: Path) -> None:
    model = ADPO("MlpPolicy", "CartPole-v1", exploration_floor=0.1, learning_starts=20, batch_size=16, seed=0)
    model.learn(50)
    model.save(tmp_path / "adpo")
    assert ADPO.load(tmp_path / "adpo").exploration_floor == 0.1


def test_a_scheduled_floor_mixes_random_actions_only_once_it_is_on() -> None:
    model = _model("CartPole-v1", StepSchedule(0.0, 0.5, 0.5))
    model._current_progress_remaining = 0.6  # 40% of training done: the floor is still 0
    before, _ = _rollout_actions(model)
    model._current_progress_remaining = 0.4
    after, _ = _rollout_actions(model)
    assert np.all(before == 0)
    assert 0.21 < np.mean(after == 1) < 0.29


class _StopAt(BaseCallback):
    def __init__(self, timesteps: int) -> None:
        super().__init__()
        self.timesteps = timesteps

    def _on_step(self) -> bool:
        return self.num_timesteps < self.timesteps


def _params(model: ADPO) -> list[th.Tensor]:
    return [p.detach().clone() for p in model.policy.parameters()]


def test_a_floor_switched_on_later_repeats_the_floor_free_run_until_then(tmp_path: Path) -> None:
    kwargs = dict(learning_starts=50, batch_size=32, group_batch_size=16, buffer_size=1000, seed=0)
    schedule = StepSchedule(0.0, 0.5, 0.5)
    free = ADPO("MlpPolicy", "CartPole-v1", **kwargs).learn(400, callback=_StopAt(200))
    held = ADPO("MlpPolicy", "CartPole-v1", exploration_floor=schedule, **kwargs).learn(400, callback=_StopAt(200))
    assert all(th.equal(a, b) for a, b in zip(_params(free), _params(held), strict=True))
    assert held.logger.name_to_value["rollout/exploration_floor"] == 0.0
    switched = ADPO("MlpPolicy", "CartPole-v1", exploration_floor=schedule, **kwargs).learn(400)
    assert switched.logger.name_to_value["rollout/exploration_floor"] == 0.5
    free_to_end = ADPO("MlpPolicy", "CartPole-v1", **kwargs).learn(400)
    assert any(not th.equal(a, b) for a, b in zip(_params(switched), _params(free_to_end), strict=True))
    switched.save(tmp_path / "adpo")
    assert ADPO.load(tmp_path / "adpo").exploration_floor == schedule
