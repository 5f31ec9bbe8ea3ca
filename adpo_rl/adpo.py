"""ADPO: Anchored Direct Preference Optimization as an off-policy actor-critic algorithm for Stable-Baselines3."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import (
    GymEnv,
    MaybeCallback,
    PyTorchObs,
    ReplayBufferSamples,
    RolloutReturn,
    Schedule,
    TrainFreq,
)
from stable_baselines3.common.utils import polyak_update, should_collect_more_steps
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

from adpo_rl import losses
from adpo_rl.anchors import ANCHOR_MODES, Anchor, make_anchor
from adpo_rl.buffers import GroupBuffer
from adpo_rl.checks import check_choice, check_positive, check_probability
from adpo_rl.policies import ADPOPolicy, CategoricalActor, repeat_observations, take_first
from adpo_rl.scorers import SCORERS, env_group_oracle, has_group_oracle

SelfADPO = TypeVar("SelfADPO", bound="ADPO")

LOSS_KINDS = ("listwise", "pairwise", "plackett_luce", "grpo")
SUPPORTED_ACTION_SPACES = (spaces.Discrete, spaces.Box)
ADAPTIVE_TEMPERATURE_KEYS = ("a", "b", "t_min", "t_max")
CRITIC_LOSSES = {"mse": F.mse_loss, "huber": F.huber_loss}


def beta_at(beta: float | Schedule, progress_remaining: float) -> float:
    """
    :param beta: the constant ``beta``, or its schedule
    :param progress_remaining: SB3's training progress (1 at the start, 0 at the end)
    :return: the target's sharpness at that progress
    :raises ValueError: unless it is a finite number > 0, naming the progress for a schedule
    """
    if not callable(beta):
        check_positive("beta", beta)
        return float(beta)
    value = beta(progress_remaining)
    check_positive(f"beta's schedule at progress_remaining={progress_remaining}", value)
    return float(value)


def floor_at(floor: float | Schedule, progress_remaining: float) -> float:
    """
    :param floor: the constant ``exploration_floor``, or its schedule
    :param progress_remaining: SB3's training progress (1 at the start, 0 at the end)
    :return: the share of uniformly random rollout actions at that progress
    :raises ValueError: unless it is a number in [0, 1], naming the progress for a schedule
    """
    if not callable(floor):
        check_probability("exploration_floor", floor, " (0: sample the policy only)")
        return float(floor)
    value = floor(progress_remaining)
    check_probability(f"exploration_floor's schedule at progress_remaining={progress_remaining}", value)
    return float(value)


class ADPO(OffPolicyAlgorithm):
    """
    Anchored Direct Preference Optimization (ADPO) for online RL.

    Paper: https://arxiv.org/abs/2510.18913. Every gradient step fits twin Q critics by TD learning (as SAC/TD3 do), then,
    for each sampled state, draws a *group* of ``group_size`` candidate actions from the anchor policy, scores them with
    ``min(Q1, Q2)``, turns the scores into a target distribution ``q`` over the group and moves the actor so that the
    softmax of its anchored logits ``(log pi - log pi_ref) / temperature`` matches ``q`` (the listwise ADPO loss). The
    minimiser over a group is ``pi ∝ pi_ref * q ** temperature``: the anchor is a trust region that moves with the chosen
    strategy (fixed, on-policy, EMA or KL-triggered).

    Defaults were chosen by measurement (docs/BENCHMARKS.md): with them ADPO reaches 500 on CartPole-v1 and about -170
    on Pendulum-v1 within 10k steps; ``group_batch_size=64`` keeps K=16 as fast as SAC per environment step. For the
    bandits' environment scorer, ``agents/hyperparams/adpo.yml`` holds the values the noisy-bandit sweep picked.

    :param policy: the policy model to use (``"MlpPolicy"`` or an ``ADPOPolicy`` subclass)
    :param env: the environment to learn from (if registered in gymnasium, can be a str)
    :param learning_rate: learning rate of the actor and critic optimizers (Adam), constant or a schedule
    :param buffer_size: size of the replay buffer
    :param learning_starts: how many environment steps to collect with a uniformly random policy before learning starts
    :param batch_size: minibatch size (states) of each gradient step
    :param tau: polyak coefficient of the critic targets (SB3's ``tau``; not the ADPO temperature)
    :param gamma: discount factor
    :param train_freq: update the model every ``train_freq`` steps (int or tuple ``(n, "step"|"episode")``)
    :param gradient_steps: gradient steps after each rollout (-1: as many as environment steps collected)
    :param action_noise: optional extra exploration noise (Box spaces)
    :param replay_buffer_class: replay buffer class (``ReplayBuffer`` by default)
    :param replay_buffer_kwargs: keyword arguments of the replay buffer
    :param optimize_memory_usage: memory-efficient replay buffer variant
    :param n_steps: n-step returns for the critic targets
    :param group_size: K, candidate actions per state (>= 2). For a ``Discrete`` space with at most K arms, the whole
        action set is the group (exact, no sampling) unless ``whole_action_set=False``
    :param group_batch_size: how many of the batch's states get a scored group in each actor step (``None``: all
        ``batch_size``); the critic scores ``group_batch_size * group_size`` candidates per step, so a smaller value
        trades actor-gradient noise for speed
    :param temperature: ADPO temperature of the anchored logits (> 0); larger values let the policy move further from
        the anchor per update (the group optimum is ``pi_ref * q ** temperature``)
    :param beta: sharpness of the target: ``q = softmax(zscore(S) / beta)`` (> 0); also the soft-label scale of the
        pairwise loss. Constant, or a schedule (a callable of SB3's ``progress_remaining``, 1 at the start of training
        and 0 at the end, as for ``learning_rate``) that must stay > 0: e.g. a sharp target while the critic looks for
        the first rewards, softer once its action values are real (logged as ``train/beta``)
    :param target: how scores become targets: ``"soft"`` (softmax of z-scores), ``"hard"`` (one-hot argmax) or ``"kde"``
        (kernel-smoothed rank target, robust to heavy-tailed scores)
    :param normalize: ``"zscore"`` (group-normalised scores), ``"center"`` (mean removed) or ``"none"`` (raw scores / beta)
    :param loss: ``"listwise"`` (the ADPO objective), ``"pairwise"`` (soft DPO over all pairs of the group; hard targets
        give DPO), ``"plackett_luce"`` (ranking likelihood) or ``"grpo"`` (GRPO's clipped-ratio surrogate with
        group-normalised advantages; the baseline, not ADPO)
    :param anchor: anchor strategy, one of ``"fixed"``, ``"on_policy"``, ``"ema"``, ``"kl_triggered"``
    :param anchor_kwargs: keyword arguments of the anchor strategy (``rate`` for ema, ``threshold`` for kl_triggered)
    :param adaptive_temperature: ``None`` (constant temperature) or a dict with keys ``a``, ``b``, ``t_min``, ``t_max``:
        ``temperature_t = clamp(temperature * (1 + a*H + b*(1-H)*(1-R)), t_min, t_max)`` with ``H`` the actor's
        normalised entropy and ``R`` the batch reward level normalised by the range seen so far
    :param whole_action_set: use every arm as the group for ``Discrete`` spaces with at most ``group_size`` arms
    :param scorer: who scores the groups: ``"critic"`` (twin Q critics learnt from the replay buffer; any env) or
        ``"env"`` (the environment's group oracle ``score_actions``, e.g. the bandits of ``adpo_rl.envs``: no critic is
        trained, each context's group is scored by the environment and every scored candidate counts as one timestep,
        so budgets match PPO's; ``buffer_size`` is then the number of recent scored groups kept for training)
    :param clip_range: ratio clipping of the ``"grpo"`` loss
    :param critic_loss: TD loss of the twin critics: ``"mse"`` (as SAC) or ``"huber"`` (with ``huber_delta`` 1, SB3
        DQN's smooth L1: quadratic for TD errors under one unit of return, linear above, so reward outliers such as
        heavy-tailed noise pull the critic with a bounded gradient)
    :param huber_delta: where the ``"huber"`` TD loss turns from quadratic to linear (> 0; 1, the default, is smooth L1).
        A value near the scale of the reward noise bounds the pull of every noisy transition, not only of the rare
        outliers, and moves the critic's fit from the mean return towards the median; it also slows the fit of large,
        true TD errors (0.1 was behind 1 on noisy CartPole-v1 and no help on noisy Acrobot-v1: docs/BENCHMARKS.md)
    :param ent_coef: weight of an entropy bonus in the actor's loss (>= 0; 0, the default, is the ADPO objective alone):
        ``loss - ent_coef * H(pi(.|s))``, with ``H`` the categorical entropy, or for Box spaces the pre-squash
        Gaussian's. Fitting the few preferred candidates of each group narrows a Gaussian policy a little at every step
        (the spread of a weighted sample is below the spread it was drawn with); the bonus pushes back, so the actor
        keeps sampling actions away from its mean. A near-deterministic categorical policy barely feels it (the
        entropy's gradient vanishes there); docs/BENCHMARKS.md has the measurements
    :param exploration_floor: probability in [0, 1] that a rollout step takes a uniformly random action instead of the
        policy's sample (DQN's epsilon-greedy, on top of the stochastic policy; 0, the default, samples the policy
        only), or its schedule of the training progress, as ``learning_rate``'s (e.g. 0 for the first steps, then a
        floor: the run repeats the floor-free run exactly until the floor starts). The behaviour policy is
        ``(1 - floor) * pi + floor * uniform``, so each arm of a Discrete space keeps at least ``floor / n`` of the
        mass however sharp ``pi`` becomes; the updates, the critic's targets and deterministic predictions are
        unchanged (logged as ``rollout/exploration_floor`` when set). Needs ``scorer="critic"`` (the environment scorer
        has no rollout policy: it samples its groups from the anchor). The ``LunarLander-v3+cauchy-medium`` entry uses
        0.1; docs/BENCHMARKS.md has the measurements
    :param stats_window_size: window size of the rollout logging (episode return and length)
    :param tensorboard_log: log directory for TensorBoard (None: no logging)
    :param policy_kwargs: keyword arguments of the policy (``net_arch``, ``log_std_init``, ...)
    :param verbose: 0 no output, 1 info, 2 debug
    :param seed: random seed
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``
    :param _init_setup_model: whether to build the networks at construction
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"MlpPolicy": ADPOPolicy}
    policy: ADPOPolicy
    anchor_strategy: Anchor
    huber_delta: float = 1.0  # models saved before the argument existed load with smooth L1, as they were trained

    def __init__(
        self,
        policy: str | type[ADPOPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-3,
        buffer_size: int = 1_000_000,
        learning_starts: int = 1000,
        batch_size: int = 256,
        tau: float = 0.005,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | None = None,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        group_size: int = 16,
        group_batch_size: int | None = 64,
        temperature: float = 1.0,
        beta: float | Schedule = 1.0,
        target: str = "soft",
        normalize: str = "zscore",
        loss: str = "listwise",
        anchor: str = "ema",
        anchor_kwargs: dict[str, Any] | None = None,
        adaptive_temperature: dict[str, float] | None = None,
        whole_action_set: bool = True,
        scorer: str = "critic",
        clip_range: float = 0.2,
        critic_loss: str = "mse",
        huber_delta: float = 1.0,
        ent_coef: float = 0.0,
        exploration_floor: float | Schedule = 0.0,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        self._check_hyperparameters(
            group_size, group_batch_size, temperature, beta, target, normalize, loss, anchor, adaptive_temperature
        )
        check_choice("scorer", scorer, SCORERS)
        check_choice("critic_loss", critic_loss, CRITIC_LOSSES)
        check_positive("huber_delta", huber_delta)
        if not clip_range > 0:
            raise ValueError(f"clip_range must be > 0, got {clip_range!r}")
        if not (isinstance(ent_coef, (int, float, np.number)) and 0 <= ent_coef < np.inf):
            raise ValueError(f"ent_coef must be a finite number >= 0 (0: no entropy bonus), got {ent_coef!r}")
        floor_at(exploration_floor, 1.0)
        if callable(exploration_floor):
            floor_at(exploration_floor, 0.0)  # a schedule must stay a probability to the end of training
        if (callable(exploration_floor) or exploration_floor > 0) and scorer == "env":
            raise ValueError(
                "exploration_floor needs scorer='critic': the environment scorer samples its groups from the anchor "
                "and has no rollout policy to mix with random actions"
            )
        super().__init__(
            policy,
            env,
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            tau,
            gamma,
            train_freq,
            gradient_steps,
            action_noise,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            seed=seed,
            support_multi_env=True,
            sde_support=False,
        )
        action_space = getattr(self, "action_space", None)  # unset while loading without an env
        if action_space is not None and not isinstance(action_space, SUPPORTED_ACTION_SPACES):
            raise ValueError(
                f"ADPO does not support the action space {action_space}; supported action spaces are: Discrete, Box"
            )
        self.group_size = group_size
        self.group_batch_size = group_batch_size
        self.temperature = temperature
        self.beta = beta
        self.target = target
        self.normalize = normalize
        self.loss = loss
        self.anchor = anchor
        self.anchor_kwargs = dict(anchor_kwargs or {})
        self.adaptive_temperature = None if adaptive_temperature is None else dict(adaptive_temperature)
        self.whole_action_set = whole_action_set
        self.scorer = scorer
        self.clip_range = clip_range
        self.critic_loss = critic_loss
        self.huber_delta = float(huber_delta)
        self.ent_coef = float(ent_coef)
        self.exploration_floor = exploration_floor if callable(exploration_floor) else float(exploration_floor)
        self._anchor_updates = 0
        self._group_steps = 0
        self._reward_range = (np.inf, -np.inf)
        if _init_setup_model:
            self._setup_model()

    @staticmethod
    def _check_hyperparameters(
        group_size: int,
        group_batch_size: int | None,
        temperature: float,
        beta: float | Schedule,
        target: str,
        normalize: str,
        loss: str,
        anchor: str,
        adaptive_temperature: dict[str, float] | None,
    ) -> None:
        """Raise ``ValueError`` naming the bad value (and the valid ones) before anything is built."""
        if not isinstance(group_size, (int, np.integer)) or group_size < 2:
            raise ValueError(
                f"group_size must be an integer >= 2 (a group needs two candidates to compare), got {group_size!r}"
            )
        if group_batch_size is not None and (not isinstance(group_batch_size, (int, np.integer)) or group_batch_size < 1):
            raise ValueError(f"group_batch_size must be None or an integer >= 1, got {group_batch_size!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        beta_at(beta, 1.0)
        if callable(beta):
            beta_at(beta, 0.0)  # a schedule must stay > 0 to the end of training
        check_choice("target", target, losses.TARGET_KINDS)
        check_choice("normalize", normalize, losses.NORMALIZE_MODES)
        check_choice("loss", loss, LOSS_KINDS)
        check_choice("anchor", anchor, ANCHOR_MODES)
        if adaptive_temperature is not None:
            unknown = set(adaptive_temperature) - set(ADAPTIVE_TEMPERATURE_KEYS)
            if unknown:
                valid = ", ".join(ADAPTIVE_TEMPERATURE_KEYS)
                raise ValueError(f"Unknown adaptive_temperature keys {sorted(unknown)}; valid keys are: {valid}")

    def _setup_model(self) -> None:
        if self.scorer == "env":
            self._setup_group_buffer()
        with warnings.catch_warnings():
            if self.n_steps > 1 and self.replay_buffer_kwargs.get("n_steps") == self.n_steps:
                # A loaded model: SB3 set the n-step buffer up when it was built, and would warn that n_steps is ignored.
                warnings.filterwarnings("ignore", message=r"`n_steps=\d+` is ignored", category=UserWarning)
            super()._setup_model()
        self.actor = self.policy.actor
        self.critic = self.policy.critic
        self.critic_target = self.policy.critic_target
        self.anchor_strategy = make_anchor(self.anchor, self.policy.actor, self.policy.anchor, **self.anchor_kwargs)

    def _group_length(self) -> int:
        """Candidates per group: ``group_size``, or the number of arms when the whole action set is the group."""
        if self._uses_whole_action_set():
            return int(self.action_space.n)  # type: ignore[union-attr]
        return self.group_size

    def _uses_whole_action_set(self) -> bool:
        """Whether every arm of a small ``Discrete`` space forms the group (exact scoring, no sampling)."""
        space = self.action_space
        return isinstance(space, spaces.Discrete) and self.whole_action_set and int(space.n) <= self.group_size

    def _setup_group_buffer(self) -> None:
        """The environment scorer trains from a buffer of scored groups instead of SB3's transition replay buffer."""
        if self.env is not None and not has_group_oracle(self.env):
            raise ValueError(
                f"scorer='env' needs an environment with a group oracle score_actions(actions) (for example "
                f"adpo_rl/ContextualBandit-v0); {self._env_name()} has none. Use scorer='critic' for this environment."
            )
        if isinstance(self.action_space, spaces.Discrete):
            group_shape, dtype = (self._group_length(),), np.int64
        else:
            group_shape, dtype = (self.group_size, int(np.prod(self.action_space.shape))), np.float32
        self.replay_buffer = GroupBuffer(self.buffer_size, self.observation_space, group_shape, dtype, self.device)

    def _env_name(self) -> str:
        try:
            return str(self.env.get_attr("spec", indices=[0])[0].id)  # type: ignore[union-attr]
        except (AttributeError, IndexError):
            return type(self.env).__name__

    # ------------------------------------------------------------------ data collection
    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        train_freq: TrainFreq,
        replay_buffer: ReplayBuffer,
        action_noise: ActionNoise | None = None,
        learning_starts: int = 0,
        log_interval: int | None = None,
    ) -> RolloutReturn:
        if self.scorer == "critic":
            return super().collect_rollouts(
                env, callback, train_freq, replay_buffer, action_noise, learning_starts, log_interval
            )
        return self._collect_scored_groups(env, callback, train_freq, log_interval)

    def _collect_scored_groups(
        self, env: VecEnv, callback: BaseCallback, train_freq: TrainFreq, log_interval: int | None
    ) -> RolloutReturn:
        """
        Environment scorer: at each of the N current contexts, draw a group from the anchor, have the environment score
        every candidate, store the scored groups, then advance every copy with its first candidate.

        Every scored candidate is one environment interaction: ``num_timesteps`` grows by ``N * K`` per step.
        """
        self.policy.set_training_mode(False)
        assert isinstance(self.replay_buffer, GroupBuffer)
        oracle = env_group_oracle(env)
        n_steps, n_episodes = 0, 0
        callback.on_rollout_start()
        while should_collect_more_steps(train_freq, n_steps, n_episodes):
            obs = self._last_obs
            with th.no_grad():
                obs_tensor = self.policy.obs_to_tensor(obs)[0]
                group = self._sample_group(self.policy.anchor.distribution_params(obs_tensor))
                candidates = self.actor.group_actions(group).cpu().numpy()
            if isinstance(self.action_space, spaces.Box):
                candidates = self.policy.unscale_action(candidates)
            scores = oracle(candidates)
            if not np.all(np.isfinite(scores)):
                raise ValueError(
                    f"The environment's group oracle returned non-finite scores at step {self.num_timesteps}; "
                    "ADPO cannot learn from NaN/inf rewards"
                )
            self.replay_buffer.add(np.asarray(obs), group.cpu().numpy(), scores)
            new_obs, _, dones, infos = env.step(candidates[:, 0])
            self._last_obs = new_obs  # type: ignore[assignment]
            self.num_timesteps += env.num_envs * scores.shape[1]
            n_steps += 1
            callback.update_locals(locals())
            if not callback.on_step():
                return RolloutReturn(n_steps * env.num_envs, n_episodes, continue_training=False)
            self._update_info_buffer(infos, dones)
            self._update_current_progress_remaining(self.num_timesteps, self._total_timesteps)
            finished = int(np.sum(dones))
            n_episodes += finished
            self._episode_num += finished
            self._group_steps += 1
            if log_interval is not None and self._group_steps % log_interval == 0:
                self.dump_logs()
        callback.on_rollout_end()
        return RolloutReturn(n_steps * env.num_envs, n_episodes, continue_training=True)

    def _sample_action(
        self, learning_starts: int, action_noise: ActionNoise | None = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """
        The policy's actions (SB3's ``_sample_action``), each replaced by a uniformly random action with probability
        ``exploration_floor``.

        :return: the actions to send to the environment and the actions to store (scaled to [-1, 1] for Box spaces)
        """
        action, buffer_action = super()._sample_action(learning_starts, action_noise, n_envs)
        floor = self._current_exploration_floor()
        if floor > 0 and self.num_timesteps >= learning_starts:
            is_box = isinstance(self.action_space, spaces.Box)
            for env_index in np.flatnonzero(np.random.random(n_envs) < floor):
                random_action = self.action_space.sample()
                action[env_index] = random_action
                buffer_action[env_index] = self.policy.scale_action(random_action) if is_box else random_action
        return action, buffer_action

    def _store_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: np.ndarray | dict[str, np.ndarray],
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        if not np.all(np.isfinite(reward)):
            raise ValueError(
                f"The environment returned a non-finite reward {reward} at step {self.num_timesteps}; "
                "ADPO cannot learn from NaN/inf rewards (check the environment or wrap it in VecCheckNan)"
            )
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)

    # ------------------------------------------------------------------ training
    def train(self, gradient_steps: int, batch_size: int = 256) -> None:
        self.policy.set_training_mode(True)
        optimizers = [self.actor.optimizer] if self.scorer == "env" else [self.actor.optimizer, self.critic.optimizer]
        self._update_learning_rate(optimizers)
        if self.anchor_strategy.on_train_start():
            self._anchor_updates += 1

        # Statistics stay on the device until the end of the call: no host sync per gradient step.
        stats: dict[str, list[th.Tensor]] = {key: [] for key in ("actor_loss", "anchor_kl", "target_entropy", "entropy")}
        critic_losses: list[th.Tensor] = []
        temperatures: list[float] = []
        beta = self._current_beta()
        for _ in range(gradient_steps):
            if self.scorer == "env":
                groups = self.replay_buffer.sample(batch_size)  # type: ignore[union-attr]
                obs, group, scores, anchor_params = groups.observations, groups.groups, groups.scores, None
                reward_level = scores.mean()
            else:
                replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
                critic_losses.append(self._critic_step(replay_data))
                obs = take_first(replay_data.observations, self.group_batch_size or batch_size)
                anchor_params, group, scores = self._critic_scored_group(obs)
                reward_level = replay_data.rewards.mean()
            temperature = self._current_temperature(obs, reward_level)
            actor_loss, kl, target_entropy, entropy = self._actor_step(obs, group, scores, temperature, beta, anchor_params)
            stats["actor_loss"].append(actor_loss)
            stats["anchor_kl"].append(kl)
            stats["target_entropy"].append(target_entropy)
            stats["entropy"].append(entropy)
            temperatures.append(temperature)
            if self.anchor_strategy.after_gradient_step(kl):  # type: ignore[arg-type]
                self._anchor_updates += 1
            if self.scorer == "critic":
                polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)

        self._n_updates += gradient_steps
        means = {key: th.stack(values).mean().item() for key, values in stats.items()}
        if not np.isfinite(means["actor_loss"]):
            raise FloatingPointError(
                f"ADPO's {self.loss} loss became non-finite after {self._n_updates} gradient steps "
                f"(learning_rate={self.learning_rate}); lower the learning rate or the temperature"
            )
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        for key, value in means.items():
            self.logger.record(f"train/{key}", value)
        if critic_losses:
            self.logger.record("train/critic_loss", th.stack(critic_losses).mean().item())
        self.logger.record("train/temperature", float(np.mean(temperatures)))
        self.logger.record("train/beta", beta)
        if callable(self.exploration_floor) or self.exploration_floor > 0:
            self.logger.record("rollout/exploration_floor", self._current_exploration_floor())
        self.logger.record("train/anchor_updates", self._anchor_updates)

    def _critic_step(self, replay_data: ReplayBufferSamples) -> th.Tensor:
        """One TD step of the twin critics towards ``r + gamma * (1 - done) * E_{a'~pi} min Q_target(s', a')``."""
        obs, actions, next_obs = replay_data.observations, replay_data.actions, replay_data.next_observations
        discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
        with th.no_grad():
            next_params = self.actor.distribution_params(next_obs)
            if isinstance(self.actor, CategoricalActor):
                next_q = th.stack(self.critic_target(next_obs)).min(0).values
                next_v = (next_params.exp() * next_q).sum(-1, keepdim=True)
            else:
                next_actions = self.actor.group_actions(self.actor.sample_group(next_params, 1)[:, 0])
                next_v = th.cat(self.critic_target(next_obs, next_actions), dim=1).min(1, keepdim=True).values
            td_target = replay_data.rewards + (1 - replay_data.dones) * discounts * next_v

        if isinstance(self.actor, CategoricalActor):
            index = actions.long().reshape(-1, 1)
            current_q = [q.gather(1, index) for q in self.critic(obs)]
        else:
            current_q = list(self.critic(obs, actions))
        td_kwargs = {"delta": self.huber_delta} if self.critic_loss == "huber" else {}
        critic_loss = 0.5 * sum(CRITIC_LOSSES[self.critic_loss](q, td_target, **td_kwargs) for q in current_q)
        self.critic.optimizer.zero_grad()
        critic_loss.backward()  # type: ignore[union-attr]
        self.critic.optimizer.step()
        return critic_loss.detach()  # type: ignore[union-attr]

    def _group_scores(self, obs: PyTorchObs, group_actions: th.Tensor) -> th.Tensor:
        """Critic scores ``min(Q1, Q2)(s, a_i)`` of a group, ``[B, K]``, in one batched forward pass."""
        if isinstance(self.actor, CategoricalActor):
            return th.stack(self.critic(obs)).min(0).values.gather(1, group_actions)
        batch, k = group_actions.shape[:2]
        flat_actions = group_actions.reshape(batch * k, -1)
        q_values = th.cat(self.critic(repeat_observations(obs, k), flat_actions), dim=1).min(1).values
        return q_values.reshape(batch, k)

    def _sample_group(self, anchor_params: th.Tensor) -> th.Tensor:
        """Latent candidates ``[B, K(, m)]`` drawn from the anchor (or every arm of a small Discrete space)."""
        if self._uses_whole_action_set():
            return self.actor.whole_action_set(anchor_params.shape[0])  # type: ignore[attr-defined]
        return self.actor.sample_group(anchor_params, self.group_size)

    def _critic_scored_group(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Anchor parameters, a group drawn from the anchor and its critic scores for a batch of states."""
        with th.no_grad():
            anchor_params = self.policy.anchor.distribution_params(obs)
            group = self._sample_group(anchor_params)
            return anchor_params, group, self._group_scores(obs, self.actor.group_actions(group))

    def _actor_step(
        self,
        obs: PyTorchObs,
        group: th.Tensor,
        scores: th.Tensor,
        temperature: float,
        beta: float,
        anchor_params: th.Tensor | None = None,
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor, th.Tensor]:
        """
        One preference step of the actor on scored groups (plus the entropy bonus when ``ent_coef > 0``).

        :param obs: states ``[B, ...]``
        :param group: latent candidates ``[B, K(, m)]``
        :param scores: their scores ``[B, K]``
        :param temperature: the ADPO temperature of this step
        :param beta: the target's sharpness at this step
        :param anchor_params: the anchor's distribution parameters on ``obs`` (computed when not given)
        :return: detached (loss, KL(pi || anchor) before the step, target entropy, policy entropy before the step)
        """
        with th.no_grad():
            if anchor_params is None:
                anchor_params = self.policy.anchor.distribution_params(obs)
            logp_anchor = self.actor.group_log_prob(anchor_params, group)
            target = losses.group_targets(scores, kind=self.target, beta=beta, normalize=self.normalize)
            target_entropy = -(target * th.log(target.clamp_min(1e-12))).sum(-1).mean()

        params = self.actor.distribution_params(obs)
        logp = self.actor.group_log_prob(params, group)
        loss = self._preference_loss(logp, logp_anchor, scores, target, temperature, beta)
        entropy = self.actor.entropy(params).mean()
        if self.ent_coef > 0:
            loss = loss - self.ent_coef * entropy
        self.actor.optimizer.zero_grad()
        loss.backward()
        self.actor.optimizer.step()
        kl = self.actor.kl(params.detach(), anchor_params).mean()
        return loss.detach(), kl, target_entropy, entropy.detach()

    def _preference_loss(
        self,
        logp: th.Tensor,
        logp_anchor: th.Tensor,
        scores: th.Tensor,
        target: th.Tensor,
        temperature: float,
        beta: float,
    ) -> th.Tensor:
        """The configured preference loss on a batch of scored groups (all tensors ``[B, K]``)."""
        if self.loss == "listwise":
            return losses.listwise_loss(logp, logp_anchor, target, temperature=temperature)
        if self.loss == "pairwise":
            labels = "hard" if self.target == "hard" else "soft"
            return losses.pairwise_loss(
                logp, logp_anchor, scores, temperature=temperature, beta=beta, labels=labels, normalize=self.normalize
            )
        if self.loss == "plackett_luce":
            return losses.plackett_luce_loss(logp, logp_anchor, scores, temperature=temperature)
        return losses.grpo_loss(logp, logp_anchor, scores, clip_range=self.clip_range, normalize=self.normalize)

    def _current_beta(self) -> float:
        """The target's sharpness now: the constant ``beta``, or its schedule at the current training progress."""
        return beta_at(self.beta, self._current_progress_remaining)

    def _current_exploration_floor(self) -> float:
        """The share of random rollout actions now: the constant floor, or its schedule at the current progress."""
        return floor_at(self.exploration_floor, self._current_progress_remaining)

    def _current_temperature(self, obs: PyTorchObs, reward_level: th.Tensor) -> float:
        """The constant temperature, or the adaptive one from the actor's entropy and the batch reward level."""
        if self.adaptive_temperature is None:
            return self.temperature
        mean_reward = float(reward_level)
        low, high = min(self._reward_range[0], mean_reward), max(self._reward_range[1], mean_reward)
        self._reward_range = (low, high)
        reward_norm = 0.5 if high <= low else (mean_reward - low) / (high - low)
        with th.no_grad():
            entropy_norm = float(self.actor.normalized_entropy(self.actor.distribution_params(obs)).mean())
        return float(losses.adaptive_temperature(self.temperature, entropy_norm, reward_norm, **self.adaptive_temperature))

    # ------------------------------------------------------------------ SB3 plumbing
    def learn(
        self: SelfADPO,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "ADPO",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfADPO:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "actor", "critic", "critic_target", "anchor_strategy"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "actor.optimizer", "critic.optimizer"], []
