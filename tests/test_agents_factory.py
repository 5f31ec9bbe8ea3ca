"""The agent zoo: hyperparameter files, make_model and its errors."""

import inspect

import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecNormalize

from adpo_rl import ADPO
from adpo_rl.agents import (
    ALGOS,
    UnknownAlgorithmError,
    UnknownEnvironmentError,
    UnsupportedActionSpaceError,
    get_config,
    make_env,
    make_model,
    resolve_env,
)
from adpo_rl.agents.config import RUN_KEYS, StepSchedule, load_hyperparams_file
from adpo_rl.agents.environments import BENCHMARK_ENVS
from adpo_rl.anchors import EmaAnchor


@pytest.mark.parametrize("algo", list(ALGOS))
def test_every_hyperparameter_entry_names_constructor_arguments(algo):
    algo_class = ALGOS[algo].load_class()
    accepted = set(inspect.signature(algo_class.__init__).parameters)
    entries = load_hyperparams_file(algo)
    assert "default" in entries
    for name in entries:
        config = get_config(algo, "CartPole-v1" if name in ("default", "bandit") else name)
        unknown = set(config.algo_kwargs) - accepted
        assert not unknown, f"{algo}.yml entry {name!r}: {sorted(unknown)} are not {algo_class.__name__} arguments"
        assert config.n_timesteps > 0 and config.n_envs > 0


def test_ppo_cartpole_uses_rl_zoo_values_and_linear_schedules():
    model = make_model("ppo", "CartPole-v1", seed=0)
    assert isinstance(model, PPO)
    assert model.n_envs == 8 and model.n_steps == 32 and model.n_epochs == 20
    assert model.learning_rate(1.0) == pytest.approx(1e-3) and model.learning_rate(0.5) == pytest.approx(5e-4)
    model.get_env().close()


# noisy_tau: the discrete noisy entries keep the slower target critic (LunarLander's diverged on 3 of 5 seeds with 0.02)
@pytest.mark.parametrize(("env_id", "noisy_tau"), [("CartPole-v1", 0.005), ("Acrobot-v1", 0.005), ("LunarLander-v3", 0.005)])
def test_adpo_discrete_control_entries_use_a_faster_target_critic_than_the_class_default(env_id, noisy_tau):
    model = make_model("adpo", env_id, seed=0, n_envs=1, overrides={"buffer_size": 1000})
    assert isinstance(model, ADPO) and model.tau == pytest.approx(0.02)
    assert inspect.signature(ADPO.__init__).parameters["tau"].default == pytest.approx(0.005)
    assert get_config("adpo", resolve_env(f"{env_id}+cauchy-medium")).algo_kwargs["tau"] == pytest.approx(noisy_tau)
    model.get_env().close()


def test_adpo_acrobot_entry_scores_groups_on_the_whole_batch_with_a_sharper_target_unlike_the_class_default():
    model = make_model("adpo", "Acrobot-v1", seed=0, n_envs=1, overrides={"buffer_size": 1000})
    assert isinstance(model, ADPO) and model.group_batch_size == model.batch_size == 256
    assert model.beta == pytest.approx(0.3)
    defaults = inspect.signature(ADPO.__init__).parameters
    assert defaults["group_batch_size"].default == 64 and defaults["beta"].default == pytest.approx(1.0)
    model.get_env().close()


def test_adpo_acrobot_entry_replays_only_the_last_20k_steps_of_its_100k_budget():
    clean = get_config("adpo", "Acrobot-v1")
    assert clean.algo_kwargs["buffer_size"] == 20_000 < clean.n_timesteps == 100_000
    # the noisy entry is the clean one (20k buffer and 256 actor states included) with a Huber critic and the class
    # default tau, as the MuJoCo noisy entries; other entries keep the yml defaults' 100k
    noisy = get_config("adpo", resolve_env("Acrobot-v1+cauchy-medium")).algo_kwargs
    assert noisy == {**clean.algo_kwargs, "critic_loss": "huber", "tau": 0.005}
    assert get_config("adpo", "CartPole-v1").algo_kwargs["buffer_size"] == 100_000
    model = make_model("adpo", "Acrobot-v1", seed=0, n_envs=1)
    assert model.replay_buffer.buffer_size == 20_000
    model.get_env().close()


# both LunarLander entries discount over the whole episode; the discrete one uses 3-step returns and two gradient steps
# per 4 environment steps, the continuous one samples 32 candidates per group
@pytest.mark.parametrize(
    ("env_id", "group_size", "n_steps", "gradient_steps"),
    [("LunarLander-v3", 16, 3, 2), ("LunarLanderContinuous-v3", 32, 1, 2)],
)
def test_adpo_lunar_lander_entries_discount_over_the_whole_episode_unlike_the_class_default(
    env_id, group_size, n_steps, gradient_steps
):
    model = make_model("adpo", env_id, seed=0, n_envs=1, overrides={"buffer_size": 1000})
    assert isinstance(model, ADPO) and model.gamma == pytest.approx(0.999) and model.train_freq.frequency == 4
    assert model.group_size == group_size and model.n_steps == n_steps and model.gradient_steps == gradient_steps
    defaults = inspect.signature(ADPO.__init__).parameters
    assert defaults["gamma"].default == pytest.approx(0.99) and defaults["group_size"].default == 16
    model.get_env().close()


# the clean continuous lander: two gradient steps, 1e-3 for the first 30%, then linear to 1e-4 at the end (no dip at
# 100k: ahead of SAC at 19 of 20 evaluations, where the clean entry with one gradient step and a constant rate was at
# 8 of 20); the noisy entry takes both (ahead of its one step and constant rate at 16 of 20 evaluations)
@pytest.mark.parametrize("env_id", ["LunarLanderContinuous-v3", "LunarLanderContinuous-v3+cauchy-medium"])
def test_adpo_continuous_lander_entries_hold_the_learning_rate_they_were_measured_with(env_id):
    model = make_model("adpo", env_id, seed=0, n_envs=1, overrides={"buffer_size": 1000})
    assert isinstance(model, ADPO) and model.gradient_steps == 2
    progress_remaining = [1.0, 0.75, 0.5, 0.25, 0.0]
    rates = [1e-3, 1e-3, 1e-3 - 9e-4 * 0.2 / 0.7, 1e-3 - 9e-4 * 0.45 / 0.7, 1e-4]
    assert [model.lr_schedule(p) for p in progress_remaining] == pytest.approx(rates)
    model.get_env().close()


def test_adpo_lunar_lander_entry_holds_its_anchor_at_the_initial_policy_unlike_the_class_default():
    """The discrete lander's policy is a Boltzmann distribution over z-scored values, not the EMA anchor's argmax."""
    model = make_model("adpo", "LunarLander-v3", seed=0, n_envs=1, overrides={"buffer_size": 1000})
    assert isinstance(model, ADPO) and model.anchor == "fixed" and model.beta == pytest.approx(0.5)
    defaults = inspect.signature(ADPO.__init__).parameters
    assert defaults["anchor"].default == "ema" and defaults["beta"].default == pytest.approx(1.0)
    model.get_env().close()


@pytest.mark.parametrize(
    ("env_id", "layer_norm", "critic_loss"),
    [
        # under cauchy-medium noise the discrete lander's critics are normalised (one seed in 5 broke at 300k without)
        ("LunarLander-v3+cauchy-medium", True, "huber"),
        ("LunarLander-v3", False, "mse"),
        # the continuous lander, clean and noisy: Huber and LayerNorm critics (ahead of SAC at 200k with both)
        ("LunarLanderContinuous-v3", True, "huber"),
        ("LunarLanderContinuous-v3+cauchy-medium", True, "huber"),
    ],
)
def test_adpo_lunar_lander_entries_build_the_critics_they_were_measured_with(env_id, layer_norm, critic_loss):
    model = make_model("adpo", env_id, seed=0, n_envs=1, overrides={"buffer_size": 1000})
    assert isinstance(model, ADPO) and model.policy.critic_layer_norm is layer_norm
    assert model.critic_loss == critic_loss
    for critic in (model.critic, model.critic_target):
        assert any(isinstance(layer, th.nn.LayerNorm) for layer in critic.modules()) is layer_norm
    assert model.policy.net_arch == [256, 256]
    model.get_env().close()


def test_adpo_mujoco_entries_and_their_noisy_entries_hold_the_measured_configurations():
    entries = {name: get_config("adpo", resolve_env(name)).algo_kwargs for name in ("HalfCheetah-v5", "Hopper-v5")}
    noisy = {name: get_config("adpo", resolve_env(f"{name}+cauchy-medium")).algo_kwargs for name in entries}
    cheetah, hopper = entries["HalfCheetah-v5"], entries["Hopper-v5"]
    assert cheetah["tau"] == pytest.approx(0.02) and cheetah.get("n_steps", 1) == 1
    assert cheetah["learning_rate"] == pytest.approx(1e-3)  # the class default, not SAC's 3e-4
    assert hopper["tau"] == pytest.approx(0.005) and hopper["n_steps"] == 3
    assert hopper["learning_rate"] == pytest.approx(1e-3)
    # the noisy entries: Hopper's is its clean entry with a Huber critic; HalfCheetah's also keeps tau 0.005, the
    # value it was measured with under noise (both learning rates, 1e-3, were measured under noise too)
    assert noisy["Hopper-v5"] == {**hopper, "critic_loss": "huber"}
    assert noisy["HalfCheetah-v5"] == {**cheetah, "critic_loss": "huber", "tau": 0.005}


def test_vec_normalize_policy_kwargs_and_overrides_reach_the_model():
    model = make_model(
        "ppo", "Acrobot-v1", seed=0, n_envs=2, overrides={"policy_kwargs.net_arch": [8], "policy_kwargs.activation_fn": "ReLU"}
    )
    assert isinstance(model.get_env(), VecNormalize)
    assert model.n_envs == 2
    assert model.policy.net_arch == [8]
    assert "ReLU" in str(model.policy.mlp_extractor)
    model.get_env().close()


def test_adpo_builds_on_discrete_and_box_envs():
    for env_id, space in (("CartPole-v1", spaces.Discrete), ("Pendulum-v1", spaces.Box)):
        model = make_model("adpo", env_id, seed=0, overrides={"buffer_size": 1000})
        assert isinstance(model, ADPO) and isinstance(model.action_space, space)
        model.get_env().close()


def test_nested_yml_options_reach_the_model():
    model = make_model("adpo", "Pendulum-v1", seed=0, overrides={"buffer_size": 1000})  # anchor_kwargs: {rate: 0.05}
    assert isinstance(model.anchor_strategy, EmaAnchor) and model.anchor_strategy.rate == pytest.approx(0.05)
    assert model.n_steps == 3
    model.get_env().close()


def test_switching_the_anchor_mode_drops_the_entry_anchor_options():
    def anchor_kwargs(**overrides):
        return get_config("adpo", "Pendulum-v1", overrides=overrides).algo_kwargs.get("anchor_kwargs")

    assert anchor_kwargs() == {"rate": 0.05}
    assert anchor_kwargs(anchor="on_policy") is None  # the entry's EMA rate would be rejected by on_policy
    assert anchor_kwargs(anchor="kl_triggered", anchor_kwargs={"threshold": 0.2}) == {"threshold": 0.2}
    assert anchor_kwargs(anchor="ema") == {"rate": 0.05}  # same mode: the entry's options stay
    assert anchor_kwargs(**{"anchor": "ema", "anchor_kwargs.rate": 0.2}) == {"rate": 0.2}


def test_sac_on_a_discrete_env_is_rejected_with_the_reason():
    message = r"^sac supports only Box action spaces; CartPole-v1 has Discrete\(2\)$"
    with pytest.raises(UnsupportedActionSpaceError, match=message):
        make_model("sac", "CartPole-v1", seed=0)
    assert isinstance(make_model("sac", "Pendulum-v1", seed=0, overrides={"buffer_size": 1000}), SAC)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(UnknownAlgorithmError, match="valid algorithms: adpo, dpo, grpo, ppo, sac"):
        make_model("trpo", "CartPole-v1", seed=0)
    with pytest.raises(UnknownEnvironmentError, match="Did you mean CartPole-v1") as error:
        make_model("ppo", "CartPol-v1", seed=0)
    assert all(env_id in str(error.value) for env_id in BENCHMARK_ENVS)


def test_rl_zoo_normalize_key_is_rejected_rather_than_passed_to_the_algorithm():
    with pytest.raises(ValueError, match="use vec_normalize"):
        get_config("ppo", "CartPole-v1", overrides={"normalize": True})
    assert get_config("adpo", "CartPole-v1", overrides={"normalize": "none"}).algo_kwargs["normalize"] == "none"


def test_lookup_falls_back_to_default_and_run_keys_stay_out_of_the_constructor():
    config = get_config("ppo", "MountainCar-v0")
    assert config.source == "default"
    assert not set(RUN_KEYS) & set(config.algo_kwargs)


def test_bandit_scenarios_resolve_to_the_bandit_with_their_noise_and_eval_contexts():
    env = resolve_env("cauchy-medium")
    assert env.env_id == "adpo_rl/ContextualBandit-v0" and env.is_bandit
    assert env.env_kwargs == {"noise": "cauchy", "severity": "medium"}
    config = get_config("adpo", "cauchy-medium")
    assert config.source == "bandit" and config.algo_kwargs["scorer"] == "env"
    assert not make_env(env, 2, seed=0).eval_mode and make_env(env, 1, seed=0, evaluation=True).eval_mode
    with pytest.raises(UnsupportedActionSpaceError, match="sac supports only Box action spaces; none has Discrete"):
        make_model("sac", "none", seed=0)


def test_control_env_with_reward_noise_trains_on_noisy_rewards_and_evaluates_clean():
    env = resolve_env("CartPole-v1+cauchy-medium")
    assert env.env_id == "CartPole-v1" and env.reward_noise == ("cauchy", "medium") and not env.is_bandit
    assert env.folder_name == "CartPole-v1_cauchy-medium"
    assert get_config("ppo", env).source == "CartPole-v1"  # no noisy entry: the clean env's tuned one
    noisy_config = get_config("adpo", env)  # its own entry: the clean one with a Huber critic
    assert noisy_config.source == "CartPole-v1+cauchy-medium" and noisy_config.algo_kwargs["critic_loss"] == "huber"
    assert get_config("adpo", resolve_env("CartPole-v1+cauchy-low")).source == "CartPole-v1"
    # the landers' noisy entries: the discrete one is its clean entry with a Huber critic, an exploration floor, a
    # slower target critic and LayerNorm critics; the continuous one is its clean entry with the one gradient step and
    # constant learning rate it was measured with under noise
    for lander, changes in (
        (
            "LunarLander-v3",
            {
                "critic_loss": "huber",
                "exploration_floor": 0.1,
                "tau": 0.005,
                "policy_kwargs": {"net_arch": [256, 256], "critic_layer_norm": True},
            },
        ),
        ("LunarLanderContinuous-v3", {}),
    ):
        clean = get_config("adpo", resolve_env(lander)).algo_kwargs
        noisy = get_config("adpo", resolve_env(f"{lander}+cauchy-medium"))
        assert noisy.source == f"{lander}+cauchy-medium" and noisy.algo_kwargs == {**clean, **changes}
    assert get_config("sac", resolve_env("LunarLanderContinuous-v3+cauchy-medium")).source == "LunarLanderContinuous-v3"
    for mujoco in ("HalfCheetah-v5+cauchy-medium", "Hopper-v5+cauchy-medium"):  # the MuJoCo entry, Huber critic
        noisy_mujoco = get_config("adpo", resolve_env(mujoco))
        assert noisy_mujoco.source == mujoco and noisy_mujoco.algo_kwargs["critic_loss"] == "huber"
        assert noisy_mujoco.algo_kwargs["learning_starts"] == 10_000

    def rewards(vec_env, n=50):
        vec_env.reset()
        out = []
        for _ in range(n):
            _, reward, _, infos = vec_env.step([vec_env.action_space.sample()])
            out.append((float(reward[0]), infos[0].get("clean_reward")))
        return out

    noisy = rewards(make_env(env, 1, seed=3))
    assert all(clean == 1.0 for _, clean in noisy) and len({r for r, _ in noisy}) == len(noisy)
    assert rewards(make_env(env, 1, seed=3)) == noisy  # seeded: the same noise again
    assert all(r == 1.0 and clean is None for r, clean in rewards(make_env(env, 1, seed=3, evaluation=True)))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("CartPole-v1+cauchy-huge", "valid suffixes after '\\+': gaussian-low"),
        ("CartPole-v1+shift-low", "unknown reward noise 'shift-low'"),
        ("cauchy-medium+flip-low", "control envs only"),
        ("CartPole-v1+flip-low+cauchy-low", "one reward noise per env, got two"),
        ("CartPol-v1+flip-low", "Did you mean CartPole-v1"),
    ],
)
def test_bad_reward_noise_names_are_rejected_with_the_valid_choices(name, message):
    with pytest.raises(UnknownEnvironmentError, match=message):
        resolve_env(name)


@pytest.mark.parametrize(
    ("text", "expected"),  # values at progress_remaining 1, 0.8, 0.4, 0
    [
        ("lin_1e-3", [1e-3, 8e-4, 4e-4, 0.0]),
        ("lin_1e-3_from_0.2", [1e-3, 1e-3, 5e-4, 0.0]),
        ("lin_1e-3_to_1e-4", [1e-3, 8.2e-4, 4.6e-4, 1e-4]),
        ("lin_1e-3_to_1e-4_from_0.6", [1e-3, 1e-3, 1e-3, 1e-4]),
    ],
)
def test_linear_schedules_decay_to_their_end_value_after_the_held_fraction(text, expected):
    schedule = get_config("adpo", "CartPole-v1", overrides={"learning_rate": text}).algo_kwargs["learning_rate"]
    assert [schedule(progress) for progress in (1.0, 0.8, 0.4, 0.0)] == pytest.approx(expected)


@pytest.mark.parametrize("text", ["lin_fast", "lin_1e-3_from_1", "lin_1e-3_until_0.5", "lin_"])
def test_a_malformed_schedule_is_refused_with_its_form(text):
    with pytest.raises(ValueError, match=r"lin_<start>\[_to_<end>\]\[_from_<fraction>\]|hold fraction .* \[0, 1\)"):
        get_config("adpo", "CartPole-v1", overrides={"learning_rate": text})


@pytest.mark.parametrize(
    ("text", "expected"),  # the schedule, then its values at progress_remaining 1, 0.81, 0.79, 0
    [
        ("step_0_to_0.02_at_0.2", (StepSchedule(0.0, 0.02, 0.2), [0.0, 0.0, 0.02, 0.02])),
        ("step_1e-3_to_1e-4_at_0.1", (StepSchedule(1e-3, 1e-4, 0.1), [1e-3, 1e-4, 1e-4, 1e-4])),
    ],
)
def test_step_schedules_switch_once_at_their_fraction(text, expected):
    schedule = get_config("adpo", "Acrobot-v1", overrides={"exploration_floor": text}).algo_kwargs["exploration_floor"]
    assert schedule == expected[0]
    assert [schedule(progress) for progress in (1.0, 0.81, 0.79, 0.0)] == pytest.approx(expected[1])


@pytest.mark.parametrize("text", ["step_0_to_0.1", "step_0_to_0.1_at_1", "step_0_to_0.1_at_0", "step_on_to_0.1_at_0.5"])
def test_a_malformed_step_schedule_is_refused_with_its_form(text):
    with pytest.raises(ValueError, match=r"step_<before>_to_<after>_at_<fraction>|switch point .* \(0, 1\)"):
        get_config("adpo", "Acrobot-v1", overrides={"exploration_floor": text})


class _RecordLearningRate(BaseCallback):
    """Records (timestep, the actor optimizer's learning rate) after every environment step."""

    def __init__(self) -> None:
        super().__init__()
        self.rates: list[tuple[int, float]] = []

    def _on_step(self) -> bool:
        self.rates.append((self.num_timesteps, self.model.actor.optimizer.param_groups[0]["lr"]))
        return True


def test_a_held_schedule_trains_at_its_start_rate_until_the_decay_and_survives_save_and_load(tmp_path):
    overrides = {"learning_rate": "lin_1e-3_from_0.5", "learning_starts": 100, "buffer_size": 1000}
    model = make_model("adpo", "CartPole-v1", seed=0, n_envs=1, overrides=overrides)
    record = _RecordLearningRate()
    model.learn(total_timesteps=400, callback=record)
    held = [rate for step, rate in record.rates if step <= 200]
    decayed = [rate for step, rate in record.rates if step > 201]
    assert set(held) == {1e-3}  # exactly the start value, as a constant-rate run
    assert decayed == sorted(decayed, reverse=True) and 0.0 < decayed[-1] < 1e-5 and decayed[0] < 1e-3
    model.save(tmp_path / "model")
    loaded = ADPO.load(tmp_path / "model")
    assert [loaded.lr_schedule(progress) for progress in (1.0, 0.25)] == pytest.approx([1e-3, 5e-4])
    model.get_env().close()
