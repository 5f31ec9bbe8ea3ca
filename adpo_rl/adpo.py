"""ADPO: Anchored Direct Preference Optimization as an off-policy actor-critic algorithm for Stable-Baselines3."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, PyTorchObs, Schedule
from stable_baselines3.common.utils import polyak_update
from torch.nn import functional as F

from adpo_rl import losses
from adpo_rl.anchors import ANCHOR_MODES, Anchor, make_anchor
from adpo_rl.policies import ADPOPolicy, CategoricalActor, repeat_observations

SelfADPO = TypeVar("SelfADPO", bound="ADPO")

TARGET_KINDS = ("soft", "hard", "kde")
LOSS_KINDS = ("listwise", "pairwise", "plackett_luce")
NORMALIZE_KINDS = ("zscore", "none")
SUPPORTED_ACTION_SPACES = (spaces.Discrete, spaces.Box)
ADAPTIVE_TEMPERATURE_KEYS = ("a", "b", "t_min", "t_max")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"Unknown {name} {value!r}; valid choices are: {', '.join(map(repr, choices))}")


class ADPO(OffPolicyAlgorithm):
    """
    Anchored Direct Preference Optimization (ADPO) for online RL.

    Paper: https://arxiv.org/abs/2510.18913. Every gradient step fits twin Q critics by TD learning (as SAC/TD3 do), then,
    for each sampled state, draws a *group* of ``group_size`` candidate actions from the anchor policy, scores them with
    ``min(Q1, Q2)``, turns the scores into a target distribution ``q`` over the group and moves the actor so that the
    softmax of its anchored logits ``(log pi - log pi_ref) / temperature`` matches ``q`` (the listwise ADPO loss). The
    minimiser over a group is ``pi ∝ pi_ref * q ** temperature``: the anchor is a trust region that moves with the chosen
    strategy (fixed, on-policy, EMA or KL-triggered).

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
    :param temperature: ADPO temperature of the anchored logits (> 0); larger values let the policy move further from
        the anchor per update (the group optimum is ``pi_ref * q ** temperature``)
    :param beta: sharpness of the target: ``q = softmax(zscore(S) / beta)`` (> 0); also the soft-label scale of the
        pairwise loss
    :param target: how scores become targets: ``"soft"`` (softmax of z-scores), ``"hard"`` (one-hot argmax) or ``"kde"``
        (kernel-smoothed rank target, robust to heavy-tailed scores)
    :param normalize: ``"zscore"`` (group-normalised scores) or ``"none"`` (raw scores / beta)
    :param loss: ``"listwise"`` (the ADPO objective), ``"pairwise"`` (soft DPO over all pairs of the group; hard targets
        give DPO) or ``"plackett_luce"`` (ranking likelihood)
    :param anchor: anchor strategy, one of ``"fixed"``, ``"on_policy"``, ``"ema"``, ``"kl_triggered"``
    :param anchor_kwargs: keyword arguments of the anchor strategy (``rate`` for ema, ``threshold`` for kl_triggered)
    :param adaptive_temperature: ``None`` (constant temperature) or a dict with keys ``a``, ``b``, ``t_min``, ``t_max``:
        ``temperature_t = clamp(temperature * (1 + a*H + b*(1-H)*(1-R)), t_min, t_max)`` with ``H`` the actor's
        normalised entropy and ``R`` the batch reward level normalised by the range seen so far
    :param whole_action_set: use every arm as the group for ``Discrete`` spaces with at most ``group_size`` arms
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
        temperature: float = 1.0,
        beta: float = 1.0,
        target: str = "soft",
        normalize: str = "zscore",
        loss: str = "listwise",
        anchor: str = "ema",
        anchor_kwargs: dict[str, Any] | None = None,
        adaptive_temperature: dict[str, float] | None = None,
        whole_action_set: bool = True,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        self._check_hyperparameters(group_size, temperature, beta, target, normalize, loss, anchor, adaptive_temperature)
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
        self.temperature = temperature
        self.beta = beta
        self.target = target
        self.normalize = normalize
        self.loss = loss
        self.anchor = anchor
        self.anchor_kwargs = dict(anchor_kwargs or {})
        self.adaptive_temperature = None if adaptive_temperature is None else dict(adaptive_temperature)
        self.whole_action_set = whole_action_set
        self._anchor_updates = 0
        self._reward_range = (np.inf, -np.inf)
        if _init_setup_model:
            self._setup_model()

    @staticmethod
    def _check_hyperparameters(
        group_size: int,
        temperature: float,
        beta: float,
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
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        if not beta > 0:
            raise ValueError(f"beta must be > 0, got {beta!r}")
        _check_choice("target", target, TARGET_KINDS)
        _check_choice("normalize", normalize, NORMALIZE_KINDS)
        _check_choice("loss", loss, LOSS_KINDS)
        _check_choice("anchor", anchor, ANCHOR_MODES)
        if adaptive_temperature is not None:
            unknown = set(adaptive_temperature) - set(ADAPTIVE_TEMPERATURE_KEYS)
            if unknown:
                valid = ", ".join(ADAPTIVE_TEMPERATURE_KEYS)
                raise ValueError(f"Unknown adaptive_temperature keys {sorted(unknown)}; valid keys are: {valid}")

    def _setup_model(self) -> None:
        super()._setup_model()
        self.actor = self.policy.actor
        self.critic = self.policy.critic
        self.critic_target = self.policy.critic_target
        self.anchor_strategy = make_anchor(self.anchor, self.policy.actor, self.policy.anchor, **self.anchor_kwargs)

    # ------------------------------------------------------------------ data collection
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
        self._update_learning_rate([self.actor.optimizer, self.critic.optimizer])
        if self.anchor_strategy.on_train_start():
            self._anchor_updates += 1

        stats: dict[str, list[float]] = {
            key: [] for key in ("actor_loss", "critic_loss", "anchor_kl", "target_entropy", "temperature")
        }
        for _ in range(gradient_steps):
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
            stats["critic_loss"].append(
                self._critic_step(
                    replay_data.observations,
                    replay_data.actions,
                    replay_data.rewards,
                    replay_data.next_observations,
                    replay_data.dones,
                    discounts,
                )
            )
            temperature = self._current_temperature(replay_data.observations, replay_data.rewards)
            actor_loss, kl, target_entropy = self._actor_step(replay_data.observations, temperature)
            stats["actor_loss"].append(actor_loss)
            stats["anchor_kl"].append(kl)
            stats["target_entropy"].append(target_entropy)
            stats["temperature"].append(temperature)
            if self.anchor_strategy.after_gradient_step(kl):
                self._anchor_updates += 1
            polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)

        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        for key, values in stats.items():
            self.logger.record(f"train/{key}", float(np.mean(values)))
        self.logger.record("train/anchor_updates", self._anchor_updates)

    def _critic_step(
        self,
        obs: PyTorchObs,
        actions: th.Tensor,
        rewards: th.Tensor,
        next_obs: PyTorchObs,
        dones: th.Tensor,
        discounts: th.Tensor | float,
    ) -> float:
        """One TD step of the twin critics towards ``r + gamma * (1 - done) * E_{a'~pi} min Q_target(s', a')``."""
        with th.no_grad():
            next_params = self.actor.distribution_params(next_obs)
            if isinstance(self.actor, CategoricalActor):
                next_q = th.stack(self.critic_target(next_obs)).min(0).values
                next_v = (next_params.exp() * next_q).sum(-1, keepdim=True)
            else:
                next_actions = self.actor.group_actions(self.actor.sample_group(next_params, 1)[:, 0])
                next_v = th.cat(self.critic_target(next_obs, next_actions), dim=1).min(1, keepdim=True).values
            td_target = rewards + (1 - dones) * discounts * next_v

        if isinstance(self.actor, CategoricalActor):
            index = actions.long().reshape(-1, 1)
            current_q = [q.gather(1, index) for q in self.critic(obs)]
        else:
            current_q = list(self.critic(obs, actions))
        critic_loss = 0.5 * sum(F.mse_loss(q, td_target) for q in current_q)
        self.critic.optimizer.zero_grad()
        critic_loss.backward()  # type: ignore[union-attr]
        self.critic.optimizer.step()
        return critic_loss.item()  # type: ignore[union-attr]

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
        actor = self.actor
        if isinstance(actor, CategoricalActor) and self.whole_action_set and actor.n_actions <= self.group_size:
            return actor.whole_action_set(anchor_params.shape[0])
        return actor.sample_group(anchor_params, self.group_size)

    def _actor_step(self, obs: PyTorchObs, temperature: float) -> tuple[float, float, float]:
        """One ADPO step of the actor on a batch of states; returns (loss, KL(pi || anchor), target entropy)."""
        with th.no_grad():
            anchor_params = self.policy.anchor.distribution_params(obs)
            group = self._sample_group(anchor_params)
            scores = self._group_scores(obs, self.actor.group_actions(group))
            logp_anchor = self.actor.group_log_prob(anchor_params, group)
            target = losses.group_targets(scores, kind=self.target, beta=self.beta, normalize=self.normalize)
            target_entropy = -(target * th.log(target.clamp_min(1e-12))).sum(-1).mean()

        params = self.actor.distribution_params(obs)
        logp = self.actor.group_log_prob(params, group)
        loss = self._preference_loss(logp, logp_anchor, scores, target, temperature)
        self.actor.optimizer.zero_grad()
        loss.backward()
        self.actor.optimizer.step()
        kl = self.actor.kl(params.detach(), anchor_params).mean()
        return loss.item(), kl.item(), target_entropy.item()

    def _preference_loss(
        self, logp: th.Tensor, logp_anchor: th.Tensor, scores: th.Tensor, target: th.Tensor, temperature: float
    ) -> th.Tensor:
        """The configured preference loss on a batch of scored groups (all tensors ``[B, K]``)."""
        if self.loss == "listwise":
            return losses.listwise_loss(logp, logp_anchor, target, temperature=temperature)
        if self.loss == "pairwise":
            labels = "hard" if self.target == "hard" else "soft"
            return losses.pairwise_loss(
                logp, logp_anchor, scores, temperature=temperature, beta=self.beta, labels=labels, normalize=self.normalize
            )
        return losses.plackett_luce_loss(logp, logp_anchor, scores, temperature=temperature)

    def _current_temperature(self, obs: PyTorchObs, rewards: th.Tensor) -> float:
        """The constant temperature, or the adaptive one from the actor's entropy and the batch reward level."""
        if self.adaptive_temperature is None:
            return self.temperature
        mean_reward = float(rewards.mean())
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
