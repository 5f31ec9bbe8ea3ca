"""A scheduled ``beta``: the target's sharpness follows the schedule, is logged, saved, and checked like the constant."""

from pathlib import Path

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.callbacks import BaseCallback

from adpo_rl import ADPO
from adpo_rl.agents import get_config
from adpo_rl.agents.config import HeldLinearSchedule

SMALL = dict(learning_starts=50, batch_size=32, group_batch_size=16, buffer_size=1000, seed=0)


class _RecordBeta(BaseCallback):
    """Records (timestep, the beta the last training call used) whenever a rollout ends."""

    def __init__(self) -> None:
        super().__init__()
        self.betas: list[tuple[int, float]] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        beta = self.model.logger.name_to_value.get("train/beta")
        if beta is not None:
            self.betas.append((self.num_timesteps, beta))


def _params(model: ADPO) -> list[th.Tensor]:
    return [p.detach().clone() for p in model.policy.parameters()]


def test_a_constant_schedule_trains_exactly_as_the_constant() -> None:
    constant = ADPO("MlpPolicy", "CartPole-v1", beta=0.3, **SMALL).learn(300)
    scheduled = ADPO("MlpPolicy", "CartPole-v1", beta=lambda _: 0.3, **SMALL).learn(300)
    for a, b in zip(_params(constant), _params(scheduled), strict=True):
        assert th.equal(a, b)


def test_the_schedule_sets_each_update_s_beta_and_changes_the_updates() -> None:
    schedule = HeldLinearSchedule(start=0.3, end=1.0, hold=0.5)
    record = _RecordBeta()
    model = ADPO("MlpPolicy", "CartPole-v1", beta=schedule, **SMALL)
    model.learn(400, callback=record)
    steps, betas = np.array(record.betas).T
    held = betas[steps <= 200]
    ramp = betas[steps > 210]
    assert held.size > 50 and np.all(held == 0.3)  # exactly the start value while held
    assert np.all(np.diff(ramp) > 0) and 0.3 < ramp[0] < 0.35 and 0.99 < ramp[-1] <= 1.0
    # After the hold the updates differ from a constant-beta run's: the schedule is not just logged.
    constant = ADPO("MlpPolicy", "CartPole-v1", beta=0.3, **SMALL).learn(400)
    assert any(not th.equal(a, b) for a, b in zip(_params(model), _params(constant), strict=True))


def test_the_pairwise_loss_follows_the_schedule_too() -> None:
    kwargs = dict(SMALL, loss="pairwise")
    constant = ADPO("MlpPolicy", "CartPole-v1", beta=2.0, **kwargs).learn(200)
    scheduled = ADPO("MlpPolicy", "CartPole-v1", beta=lambda _: 2.0, **kwargs).learn(200)
    other = ADPO("MlpPolicy", "CartPole-v1", beta=lambda _: 0.2, **kwargs).learn(200)
    assert all(th.equal(a, b) for a, b in zip(_params(constant), _params(scheduled), strict=True))
    assert any(not th.equal(a, b) for a, b in zip(_params(constant), _params(other), strict=True))


def test_the_schedule_is_saved_with_the_model(tmp_path: Path) -> None:
    model = ADPO("MlpPolicy", "CartPole-v1", beta=HeldLinearSchedule(0.3, 1.0, 0.2), **SMALL)
    model.save(tmp_path / "model")
    loaded = ADPO.load(tmp_path / "model")
    assert [loaded.beta(progress) for progress in (1.0, 0.8, 0.4, 0.0)] == pytest.approx([0.3, 0.3, 0.65, 1.0])
    loaded._current_progress_remaining = 0.4
    assert loaded._current_beta() == pytest.approx(0.65)


@pytest.mark.parametrize(
    ("beta", "message"),
    [
        (lambda progress: progress, r"beta's schedule at progress_remaining=0.0 must be a finite number > 0, got 0.0"),
        (lambda progress: -1.0, r"beta's schedule at progress_remaining=1.0 must be a finite number > 0, got -1.0"),
        (lambda progress: float("nan"), r"beta's schedule at progress_remaining=1.0 must be a finite number > 0"),
        ("lin_0.3", r"beta must be a finite number > 0, got 'lin_0.3'"),
        (float("inf"), r"beta must be a finite number > 0, got inf"),
    ],
)
def test_a_schedule_that_leaves_the_positive_numbers_is_refused_before_training(beta, message) -> None:
    with pytest.raises(ValueError, match=message):
        ADPO("MlpPolicy", "CartPole-v1", beta=beta, **SMALL)


def test_a_schedule_that_turns_non_positive_mid_training_stops_with_its_progress() -> None:
    model = ADPO("MlpPolicy", "CartPole-v1", beta=lambda p: 1.0 if p in (0.0, 1.0) else -1.0, **SMALL)
    with pytest.raises(ValueError, match=r"beta's schedule at progress_remaining=0\.\d+ must be a finite number > 0"):
        model.learn(100)


def test_the_yml_and_hp_form_of_a_beta_schedule() -> None:
    # rl-zoo's "lin_" form, as for learning_rate: 0.3 for the first 20% of training, then linear to 1.
    config = get_config("adpo", "Acrobot-v1", overrides={"beta": "lin_0.3_to_1_from_0.2"})
    assert config.algo_kwargs["beta"] == HeldLinearSchedule(0.3, 1.0, 0.2)
    # "lin_0.3" is rl-zoo's decay to 0, which no target can use at the end of training.
    to_zero = get_config("adpo", "Acrobot-v1", overrides={"beta": "lin_0.3"}).algo_kwargs["beta"]
    with pytest.raises(ValueError, match=r"beta's schedule at progress_remaining=0.0 must be a finite number > 0"):
        ADPO("MlpPolicy", "Acrobot-v1", beta=to_zero, **SMALL)
