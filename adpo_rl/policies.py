"""ADPO policies: a stochastic actor (categorical or tanh-squashed Gaussian), its frozen anchor copy, and twin Q critics.

Shapes: ``B`` states in a batch, ``K`` candidate actions per state (a *group*), ``m`` action dimensions, ``n`` arms of a
``Discrete`` space. Groups are handled in *latent* form: arm indices ``[B, K]`` for the categorical actor and
pre-squash Gaussian samples ``[B, K, m]`` for the squashed Gaussian, so that the anchored log-ratio
``log pi(a|s) - log pi_ref(a|s)`` never needs ``atanh`` (the tanh Jacobian cancels in the difference).
"""

from __future__ import annotations

import math
from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import (
    CategoricalDistribution,
    Distribution,
    SquashedDiagGaussianDistribution,
)
from stable_baselines3.common.policies import BasePolicy, ContinuousCritic
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    FlattenExtractor,
    create_mlp,
    get_actor_critic_arch,
)
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn

# Bounds of the Gaussian actor's log standard deviation (pre-squash), as in SB3's SAC.
LOG_STD_MIN = -20.0
LOG_STD_MAX = 2.0


def repeat_observations(obs: PyTorchObs, k: int) -> PyTorchObs:
    """
    Repeat every observation ``k`` times along the batch dimension (``[B, ...] -> [B * K, ...]``, row-major in B).

    :param obs: a batch of observations (tensor or dict of tensors)
    :param k: the group size
    :return: the repeated observations
    """
    if isinstance(obs, dict):
        return {key: value.repeat_interleave(k, dim=0) for key, value in obs.items()}
    return obs.repeat_interleave(k, dim=0)


def take_first(obs: PyTorchObs, n: int) -> PyTorchObs:
    """
    The first ``n`` observations of a batch (replay batches are uniformly sampled, so this is a random subset).

    :param obs: a batch of observations (tensor or dict of tensors)
    :param n: how many to keep
    :return: the sub-batch
    """
    if isinstance(obs, dict):
        return {key: value[:n] for key, value in obs.items()}
    return obs[:n]


class GroupActor(BasePolicy):
    """
    Base class of ADPO actors: a distribution over actions that can sample, score and compare groups of actions.

    Subclasses implement the distribution in terms of its parameters (``distribution_params``) so that the actor and its
    anchor (a frozen copy of the same module) are evaluated on the same group with one forward pass each.

    :param observation_space: observation space
    :param action_space: action space
    :param net_arch: hidden layer sizes of the policy network
    :param features_extractor: network that turns observations into features
    :param features_dim: number of features
    :param activation_fn: activation function
    :param normalize_images: whether to divide image observations by 255
    :param squash_output: whether actions are tanh-squashed (Box spaces)
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        net_arch: list[int],
        features_extractor: nn.Module,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        squash_output: bool = False,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
            squash_output=squash_output,
        )
        self.net_arch = net_arch
        self.features_dim = features_dim
        self.activation_fn = activation_fn
        self.latent_pi = nn.Sequential(*create_mlp(features_dim, -1, net_arch, activation_fn))
        self.last_layer_dim = net_arch[-1] if len(net_arch) > 0 else features_dim

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
                net_arch=self.net_arch,
                features_dim=self.features_dim,
                activation_fn=self.activation_fn,
                features_extractor=self.features_extractor,
            )
        )
        return data

    def latent(self, obs: PyTorchObs) -> th.Tensor:
        """Hidden representation of a batch of observations, ``[B, hidden]``."""
        return self.latent_pi(self.extract_features(obs, self.features_extractor))

    def distribution_params(self, obs: PyTorchObs) -> th.Tensor:
        """The distribution's parameters for a batch of observations (``[B, n]`` logits or ``[B, 2, m]`` mean/log-std)."""
        raise NotImplementedError

    def sample_group(self, params: th.Tensor, k: int) -> th.Tensor:
        """Draw ``k`` latent candidates per state from the distribution with parameters ``params``."""
        raise NotImplementedError

    def group_log_prob(self, params: th.Tensor, group: th.Tensor) -> th.Tensor:
        """Log-probabilities ``[B, K]`` of latent candidates under ``params`` (pre-squash for the Gaussian)."""
        raise NotImplementedError

    def group_actions(self, group: th.Tensor) -> th.Tensor:
        """Environment actions (scaled to [-1, 1] for Box spaces) of latent candidates."""
        raise NotImplementedError

    def kl(self, params: th.Tensor, params_ref: th.Tensor) -> th.Tensor:
        """Exact KL(pi || pi_ref) per state, ``[B]``."""
        raise NotImplementedError

    def entropy(self, params: th.Tensor) -> th.Tensor:
        """Exact entropy per state in nats, ``[B]`` (of the pre-squash Gaussian for Box spaces)."""
        raise NotImplementedError

    def normalized_entropy(self, params: th.Tensor) -> th.Tensor:
        """Entropy per state mapped to [0, 1] (1 = as spread as the initial policy), ``[B]``."""
        raise NotImplementedError

    def get_distribution(self, obs: PyTorchObs) -> Distribution:
        """The SB3 ``Distribution`` of actions for a batch of observations (same interface as PPO's policy)."""
        raise NotImplementedError

    def forward(self, obs: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self.get_distribution(obs).get_actions(deterministic=deterministic)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self(observation, deterministic)


class CategoricalActor(GroupActor):
    """Categorical actor for ``Discrete`` action spaces: ``logits = MLP(features)``. Latent candidates are arm indices."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Discrete, **kwargs: Any) -> None:
        super().__init__(observation_space, action_space, **kwargs)
        self.n_actions = int(action_space.n)
        self.logits = nn.Linear(self.last_layer_dim, self.n_actions)

    def distribution_params(self, obs: PyTorchObs) -> th.Tensor:
        return th.log_softmax(self.logits(self.latent(obs)), dim=-1)

    def sample_group(self, params: th.Tensor, k: int) -> th.Tensor:
        return th.multinomial(params.exp(), k, replacement=True)

    def whole_action_set(self, batch_size: int) -> th.Tensor:
        """Every arm as the group of every state, ``[B, n]``."""
        return th.arange(self.n_actions, device=self.device).expand(batch_size, -1)

    def group_log_prob(self, params: th.Tensor, group: th.Tensor) -> th.Tensor:
        return params.gather(-1, group)

    def group_actions(self, group: th.Tensor) -> th.Tensor:
        return group

    def kl(self, params: th.Tensor, params_ref: th.Tensor) -> th.Tensor:
        return (params.exp() * (params - params_ref)).sum(-1)

    def entropy(self, params: th.Tensor) -> th.Tensor:
        return -(params.exp() * params).sum(-1)

    def normalized_entropy(self, params: th.Tensor) -> th.Tensor:
        entropy = self.entropy(params)
        return entropy / math.log(self.n_actions) if self.n_actions > 1 else th.ones_like(entropy)

    def get_distribution(self, obs: PyTorchObs) -> Distribution:
        return CategoricalDistribution(self.n_actions).proba_distribution(self.logits(self.latent(obs)))


class SquashedGaussianActor(GroupActor):
    """
    Tanh-squashed diagonal Gaussian actor for ``Box`` action spaces (actions in [-1, 1], rescaled by SB3).

    Latent candidates are pre-squash samples ``z``; the environment action is ``tanh(z)``.

    :param log_std_init: initial log standard deviation (the log-std head's bias)
    """

    def __init__(
        self, observation_space: spaces.Space, action_space: spaces.Box, log_std_init: float = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(observation_space, action_space, squash_output=True, **kwargs)
        self.log_std_init = log_std_init
        action_dim = get_action_dim(action_space)
        self.mu = nn.Linear(self.last_layer_dim, action_dim)
        self.log_std = nn.Linear(self.last_layer_dim, action_dim)
        nn.init.constant_(self.log_std.bias, log_std_init)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(log_std_init=self.log_std_init)
        return data

    def distribution_params(self, obs: PyTorchObs) -> th.Tensor:
        latent = self.latent(obs)
        log_std = th.clamp(self.log_std(latent), LOG_STD_MIN, LOG_STD_MAX)
        return th.stack((self.mu(latent), log_std), dim=-2)

    def sample_group(self, params: th.Tensor, k: int) -> th.Tensor:
        mean, log_std = params[..., 0, :].unsqueeze(-2), params[..., 1, :].unsqueeze(-2)
        noise = th.randn(mean.shape[0], k, mean.shape[-1], device=mean.device, dtype=mean.dtype)
        return mean + noise * log_std.exp()

    def group_log_prob(self, params: th.Tensor, group: th.Tensor) -> th.Tensor:
        mean, log_std = params[..., 0, :].unsqueeze(-2), params[..., 1, :].unsqueeze(-2)
        z = (group - mean) * th.exp(-log_std)
        return (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def group_actions(self, group: th.Tensor) -> th.Tensor:
        return th.tanh(group)

    def kl(self, params: th.Tensor, params_ref: th.Tensor) -> th.Tensor:
        # KL is invariant under the (bijective) tanh squashing, so the Gaussian closed form is exact.
        mean, log_std = params[..., 0, :], params[..., 1, :]
        mean_ref, log_std_ref = params_ref[..., 0, :], params_ref[..., 1, :]
        var_ratio = th.exp(2 * (log_std - log_std_ref))
        mahalanobis = ((mean - mean_ref) * th.exp(-log_std_ref)).pow(2)
        return 0.5 * (var_ratio + mahalanobis - 1.0 - 2 * (log_std - log_std_ref)).sum(-1)

    def entropy(self, params: th.Tensor) -> th.Tensor:
        return (params[..., 1, :] + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)

    def normalized_entropy(self, params: th.Tensor) -> th.Tensor:
        # Gaussian entropy relative to the initial spread, mapped to [0, 1] through the log-std range.
        log_std = params[..., 1, :].mean(-1)
        return th.clamp((log_std - LOG_STD_MIN) / (max(self.log_std_init, LOG_STD_MIN + 1.0) - LOG_STD_MIN), 0.0, 1.0)

    def get_distribution(self, obs: PyTorchObs) -> Distribution:
        params = self.distribution_params(obs)
        distribution = SquashedDiagGaussianDistribution(get_action_dim(self.action_space))
        return distribution.proba_distribution(params[..., 0, :], params[..., 1, :])


def q_network(
    input_dim: int, output_dim: int, net_arch: list[int], activation_fn: type[nn.Module], layer_norm: bool = False
) -> nn.Sequential:
    """
    One Q network: an MLP, optionally with ``LayerNorm`` after each hidden linear layer (before its activation).

    :param input_dim: input size (features, plus action dimensions for ``Q(s, a)``)
    :param output_dim: output size (``n`` arms, or 1 for ``Q(s, a)``)
    :param net_arch: hidden layer sizes
    :param activation_fn: activation function
    :param layer_norm: whether to normalise each hidden layer
    :return: the network
    """
    post_linear_modules: list[type[nn.Module]] = [nn.LayerNorm] if layer_norm else []
    return nn.Sequential(*create_mlp(input_dim, output_dim, net_arch, activation_fn, post_linear_modules=post_linear_modules))


class DiscreteCritic(BasePolicy):
    """
    Twin Q networks for ``Discrete`` action spaces: each maps features to ``n`` action values (one forward for all arms).

    :param observation_space: observation space
    :param action_space: action space
    :param net_arch: hidden layer sizes
    :param features_extractor: network that turns observations into features
    :param features_dim: number of features
    :param activation_fn: activation function
    :param normalize_images: whether to divide image observations by 255
    :param n_critics: number of Q networks
    :param share_features_extractor: unused (each critic has its own features extractor); kept for the interface of
        SB3's ``ContinuousCritic``
    :param layer_norm: ``LayerNorm`` after each hidden linear layer
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        n_critics: int = 2,
        share_features_extractor: bool = False,
        layer_norm: bool = False,
    ) -> None:
        super().__init__(
            observation_space, action_space, features_extractor=features_extractor, normalize_images=normalize_images
        )
        self.n_critics = n_critics
        self.q_networks = nn.ModuleList(
            q_network(features_dim, int(action_space.n), net_arch, activation_fn, layer_norm) for _ in range(n_critics)
        )

    def forward(self, obs: PyTorchObs) -> tuple[th.Tensor, ...]:  # type: ignore[override]
        features = self.extract_features(obs, self.features_extractor)
        return tuple(q_net(features) for q_net in self.q_networks)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return th.stack(self(observation)).min(0).values.argmax(-1)


class BoxCritic(ContinuousCritic):
    """
    SB3's twin ``Q(s, a)`` networks for ``Box`` action spaces, optionally with ``LayerNorm`` in their hidden layers.

    :param observation_space: observation space
    :param action_space: action space
    :param net_arch: hidden layer sizes
    :param features_extractor: network that turns observations into features
    :param features_dim: number of features
    :param activation_fn: activation function
    :param normalize_images: whether to divide image observations by 255
    :param n_critics: number of Q networks
    :param share_features_extractor: whether the features extractor is shared with the actor
    :param layer_norm: ``LayerNorm`` after each hidden linear layer (without it, exactly SB3's ``ContinuousCritic``)
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        n_critics: int = 2,
        share_features_extractor: bool = True,
        layer_norm: bool = False,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            net_arch,
            features_extractor,
            features_dim,
            activation_fn=activation_fn,
            normalize_images=normalize_images,
            n_critics=n_critics,
            share_features_extractor=share_features_extractor,
        )
        if layer_norm:
            input_dim = features_dim + get_action_dim(action_space)
            for idx in range(n_critics):
                q_net = q_network(input_dim, 1, net_arch, activation_fn, layer_norm=True)
                self.add_module(f"qf{idx}", q_net)
                self.q_networks[idx] = q_net


class ADPOPolicy(BasePolicy):
    """
    Policy of ADPO: an actor, its anchor (frozen copy, saved with the policy), twin critics and their polyak targets.

    :param observation_space: observation space
    :param action_space: action space (``Discrete`` or ``Box``)
    :param lr_schedule: learning rate schedule
    :param net_arch: hidden layers, shared spec (``[256, 256]``) or ``dict(pi=[...], qf=[...])``
    :param activation_fn: activation function
    :param log_std_init: initial log standard deviation of the Gaussian actor (Box spaces)
    :param features_extractor_class: features extractor class
    :param features_extractor_kwargs: its keyword arguments
    :param normalize_images: whether to divide image observations by 255
    :param optimizer_class: optimizer class (Adam)
    :param optimizer_kwargs: optimizer keyword arguments (without the learning rate)
    :param n_critics: number of Q networks (2: clipped double Q)
    :param critic_layer_norm: ``LayerNorm`` after each hidden linear layer of the critics (and their targets). It
        bounds each value by the weights of the last layers, whatever the input: ``|Q| <= ||w|| * (max|gamma| *
        sqrt(width) + ||beta||) + |b|`` (output layer ``w, b``, last norm's scale and shift ``gamma, beta``), so
        bootstrapped targets can grow only as fast as those weights (off by default)
    """

    actor: GroupActor
    anchor: GroupActor
    critic: nn.Module
    critic_target: nn.Module

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        log_std_init: float = 0.0,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 2,
        critic_layer_norm: bool = False,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            features_extractor_class,
            features_extractor_kwargs,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            squash_output=isinstance(action_space, spaces.Box),
            normalize_images=normalize_images,
        )
        self.net_arch = [256, 256] if net_arch is None else net_arch
        self.activation_fn = activation_fn
        self.log_std_init = log_std_init
        self.n_critics = n_critics
        self.critic_layer_norm = critic_layer_norm
        self._build(lr_schedule)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
                net_arch=self.net_arch,
                activation_fn=self.activation_fn,
                log_std_init=self.log_std_init,
                n_critics=self.n_critics,
                critic_layer_norm=self.critic_layer_norm,
                lr_schedule=self._dummy_schedule,
                optimizer_class=self.optimizer_class,
                optimizer_kwargs=self.optimizer_kwargs,
                features_extractor_class=self.features_extractor_class,
                features_extractor_kwargs=self.features_extractor_kwargs,
            )
        )
        return data

    def _build(self, lr_schedule: Schedule) -> None:
        actor_arch, critic_arch = get_actor_critic_arch(self.net_arch)
        self.actor = self.make_actor(actor_arch)
        self.actor.optimizer = self.optimizer_class(self.actor.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)
        self.anchor = self.make_actor(actor_arch)
        self.anchor.load_state_dict(self.actor.state_dict())
        self.anchor.requires_grad_(False)
        self.anchor.set_training_mode(False)

        self.critic = self.make_critic(critic_arch)
        self.critic.optimizer = self.optimizer_class(self.critic.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)
        self.critic_target = self.make_critic(critic_arch)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        self.critic_target.set_training_mode(False)

    def make_actor(self, net_arch: list[int]) -> GroupActor:
        """A fresh actor (used for the actor and for its anchor)."""
        features_extractor = self.make_features_extractor()
        kwargs: dict[str, Any] = dict(
            net_arch=net_arch,
            features_extractor=features_extractor,
            features_dim=features_extractor.features_dim,
            activation_fn=self.activation_fn,
            normalize_images=self.normalize_images,
        )
        if isinstance(self.action_space, spaces.Discrete):
            return CategoricalActor(self.observation_space, self.action_space, **kwargs).to(self.device)
        assert isinstance(self.action_space, spaces.Box)
        return SquashedGaussianActor(self.observation_space, self.action_space, log_std_init=self.log_std_init, **kwargs).to(
            self.device
        )

    def make_critic(self, net_arch: list[int]) -> nn.Module:
        """Twin Q networks: ``Q(s, .)`` for all arms (Discrete) or ``Q(s, a)`` (Box)."""
        features_extractor = self.make_features_extractor()
        kwargs: dict[str, Any] = dict(
            net_arch=net_arch,
            features_extractor=features_extractor,
            features_dim=features_extractor.features_dim,
            activation_fn=self.activation_fn,
            normalize_images=self.normalize_images,
            n_critics=self.n_critics,
            share_features_extractor=False,
            layer_norm=self.critic_layer_norm,
        )
        critic_class = DiscreteCritic if isinstance(self.action_space, spaces.Discrete) else BoxCritic
        return critic_class(self.observation_space, self.action_space, **kwargs).to(self.device)

    def get_distribution(self, obs: PyTorchObs) -> Distribution:
        """The actor's action distribution (same interface as ``ActorCriticPolicy.get_distribution``)."""
        return self.actor.get_distribution(obs)

    def forward(self, obs: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self._predict(obs, deterministic=deterministic)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self.actor(observation, deterministic)

    def set_training_mode(self, mode: bool) -> None:
        self.actor.set_training_mode(mode)
        self.critic.set_training_mode(mode)
        self.training = mode


MlpPolicy = ADPOPolicy
