"""A FIFO buffer of scored groups (contexts, latent candidates, scores) for ADPO's environment scorer."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces


class GroupSamples(NamedTuple):
    """A minibatch of scored groups: observations ``[B, ...]``, latent candidates ``[B, K(, m)]``, scores ``[B, K]``."""

    observations: th.Tensor
    groups: th.Tensor
    scores: th.Tensor


class GroupBuffer:
    """
    Circular buffer of the most recent ``buffer_size`` scored groups, sampled uniformly.

    :param buffer_size: how many groups (contexts) it holds
    :param observation_space: observation space (flat Box)
    :param group_shape: shape of one latent group, ``(K,)`` for arms or ``(K, m)`` for pre-squash Gaussian samples
    :param group_dtype: numpy dtype of the latent group (int64 for arms, float32 otherwise)
    :param device: torch device of the sampled tensors
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        group_shape: tuple[int, ...],
        group_dtype: type = np.float32,
        device: th.device | str = "cpu",
    ) -> None:
        if not isinstance(observation_space, spaces.Box):
            raise ValueError(f"The environment scorer needs a Box observation space, got {observation_space}")
        self.buffer_size = buffer_size
        self.device = th.device(device)
        self.observations = np.zeros((buffer_size, *observation_space.shape), dtype=np.float32)
        self.groups = np.zeros((buffer_size, *group_shape), dtype=group_dtype)
        self.scores = np.zeros((buffer_size, group_shape[0]), dtype=np.float32)
        self.pos = 0
        self.full = False

    def size(self) -> int:
        """Number of groups stored."""
        return self.buffer_size if self.full else self.pos

    def add(self, observations: np.ndarray, groups: np.ndarray, scores: np.ndarray) -> None:
        """
        Store the scored groups of N contexts.

        :param observations: contexts ``[N, ...]``
        :param groups: latent candidates ``[N, K(, m)]``
        :param scores: scores ``[N, K]``
        """
        n = len(observations)
        index = (self.pos + np.arange(n)) % self.buffer_size
        self.observations[index] = observations
        self.groups[index] = groups
        self.scores[index] = scores
        self.full = self.full or self.pos + n >= self.buffer_size
        self.pos = int((self.pos + n) % self.buffer_size)

    def sample(self, batch_size: int, env: object = None) -> GroupSamples:
        """
        Uniformly sample stored groups (with replacement).

        :param batch_size: number of groups
        :param env: unused (SB3's replay-buffer signature)
        :return: the minibatch on the buffer's device
        """
        index = np.random.randint(0, self.size(), size=batch_size)
        return GroupSamples(
            th.as_tensor(self.observations[index], device=self.device),
            th.as_tensor(self.groups[index], device=self.device),
            th.as_tensor(self.scores[index], device=self.device),
        )
