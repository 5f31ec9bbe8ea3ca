"""
Natively batched bandits: one numpy call per random quantity and per step for all ``N`` copies.

Two faces of one implementation:

- gymnasium vector envs (:class:`ContextualBanditVectorEnv`, :class:`ContinuousBanditVectorEnv`), built by
  ``gym.make_vec("adpo_rl/ContextualBandit-v0", num_envs=N, vectorization_mode="vector_entry_point", **kwargs)``;
- an SB3 ``VecEnv`` (:class:`BanditVecEnv`), built by :func:`make_bandit_vec_env`, so that PPO / SAC / ADPO use the
  batched env with no ``DummyVecEnv`` loop.

Every episode lasts one step, so every step ends all ``N`` episodes and starts new ones in the same call
(gymnasium's ``AutoresetMode.SAME_STEP``): the returned observations are the new contexts, the contexts the actions
were taken in come back as ``infos["final_obs"]`` (gymnasium) or ``infos[i]["terminal_observation"]`` (SB3).

All copies share one problem and one generator. Drawing in the same order as the single env, a vector env with
``num_envs=1`` reproduces the single env with the same seed exactly, step for step.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn

from adpo_rl.envs.bandits import (
    ContextualBanditProblem,
    ContinuousBanditProblem,
    _check_positive_int,
    _check_render_mode,
    _observation_space,
    build_contextual_problem,
    build_continuous_problem,
)


class _BanditVectorEnv(VectorEnv):
    """Shared batching, seeding and info layout of the vector bandits."""

    metadata: dict[str, Any] = {"render_modes": [], "autoreset_mode": AutoresetMode.SAME_STEP}
    problem: ContextualBanditProblem | ContinuousBanditProblem

    def _setup_spaces(self, num_envs: int, action_space: spaces.Space, render_mode: str | None) -> None:
        _check_render_mode(render_mode)
        self.num_envs = _check_positive_int("num_envs", num_envs, 1)
        self.render_mode = render_mode
        self.single_observation_space = _observation_space(self.problem)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.single_action_space = action_space
        self.action_space = batch_space(action_space, self.num_envs)
        self._contexts: np.ndarray | None = None

    @property
    def eval_mode(self) -> bool:
        """Whether contexts come from the evaluation distribution."""
        return self.problem.eval_mode

    def _new_episodes(self) -> dict[str, np.ndarray]:
        """Draw fresh contexts for all copies; return the per-episode state (the reset info columns)."""
        raise NotImplementedError

    def _with_masks(self, columns: dict[str, Any]) -> dict[str, Any]:
        mask = np.ones(self.num_envs, dtype=np.bool_)
        infos: dict[str, Any] = {}
        for key, value in columns.items():
            infos[key] = value
            infos[f"_{key}"] = mask
        return infos

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """
        Start ``N`` new episodes.

        :param seed: seeds the generator shared by all copies (an int; a list uses its first element)
        :param options: unused
        :return: contexts ``[N, d]`` and infos (gymnasium vector layout, one column per key)
        """
        if isinstance(seed, (list, tuple)):
            seed = seed[0]
        super().reset(seed=seed)
        columns = self._new_episodes()
        return self._contexts, self._with_masks(columns)  # type: ignore[return-value]

    def _step_columns(self, actions: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Rewards ``[N]`` and the final-info columns for the episodes the actions end."""
        raise NotImplementedError

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """
        Act in all ``N`` copies; every episode ends and a new one starts (same-step autoreset).

        :param actions: one action per copy
        :return: new contexts ``[N, d]``, rewards ``[N]`` (float32), terminations (all True), truncations (all False),
            infos: the new episodes' columns, plus ``final_obs`` (the contexts acted in) and ``final_info`` (the ended
            episodes' columns)
        """
        if self._contexts is None:
            raise RuntimeError("Call reset() before step()")
        rewards, final_columns = self._step_columns(actions)
        final_obs = self._contexts
        infos = self._with_masks(self._new_episodes())
        infos.update(self._with_masks({"final_obs": final_obs, "final_info": self._with_masks(final_columns)}))
        terminations = np.ones(self.num_envs, dtype=np.bool_)
        truncations = np.zeros(self.num_envs, dtype=np.bool_)
        return self._contexts, rewards, terminations, truncations, infos  # type: ignore[return-value]

    def score_actions(self, actions: np.ndarray) -> np.ndarray:
        """
        Batched group oracle: fresh noisy rewards of ``K`` candidates at every copy's current context, without
        advancing the env (noise comes from the shared generator).

        :param actions: ``[N, K]`` arm indices (discrete) or ``[N, K, m]`` actions (continuous)
        :return: rewards, shape ``[N, K]``, float32
        """
        raise NotImplementedError

    def score_actions_at(self, index: int, actions: np.ndarray) -> np.ndarray:
        """
        Group oracle of one copy (what ``VecEnv.env_method("score_actions", actions, indices=[index])`` calls).

        :param index: the copy
        :param actions: ``[K]`` arm indices (discrete) or ``[K, m]`` actions (continuous)
        :return: rewards, shape ``[K]``, float32
        """
        raise NotImplementedError

    def _check_index(self, index: int) -> int:
        if not 0 <= index < self.num_envs:
            raise IndexError(f"copy index {index} out of range for {self.num_envs} copies")
        if self._contexts is None:
            raise RuntimeError("Call reset() before score_actions()")
        return index


class ContextualBanditVectorEnv(_BanditVectorEnv):
    """
    ``N`` copies of :class:`~adpo_rl.envs.bandits.ContextualBandit`, batched.

    Info columns: ``expected_rewards`` ``[N, n_arms]`` and ``optimal_action`` ``[N]``, for the new episodes at the top
    level and for the ended ones in ``infos["final_info"]``.

    :param num_envs: number of copies ``N``
    :param kwargs: the keyword arguments of :class:`~adpo_rl.envs.bandits.ContextualBandit`
    """

    problem: ContextualBanditProblem

    def __init__(self, num_envs: int = 1, render_mode: str | None = None, **kwargs: Any) -> None:
        self.problem = build_contextual_problem(**kwargs)
        self._setup_spaces(num_envs, spaces.Discrete(self.problem.n_arms), render_mode)
        self._expected: np.ndarray | None = None
        self._optimal: np.ndarray | None = None

    def _new_episodes(self) -> dict[str, np.ndarray]:
        self._contexts = self.problem.sample_contexts(self.np_random, self.num_envs)
        self._expected = self.problem.expected_rewards(self._contexts)
        self._optimal = self._expected.argmax(axis=1)
        return {"expected_rewards": self._expected, "optimal_action": self._optimal}

    def _step_columns(self, actions: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        assert self._expected is not None and self._optimal is not None
        actions = self.problem.check_actions(actions, (self.num_envs,))
        rewards = self.problem.noisy_rewards(self.np_random, self._expected, actions[:, None])[:, 0]
        return rewards, {"expected_rewards": self._expected, "optimal_action": self._optimal}

    def score_actions(self, actions: np.ndarray) -> np.ndarray:
        if self._expected is None:
            raise RuntimeError("Call reset() before score_actions()")
        actions = np.asarray(actions)
        if actions.ndim != 2 or actions.shape[0] != self.num_envs:
            raise ValueError(f"actions must be arm indices shaped [{self.num_envs}, K], got shape {actions.shape}")
        actions = self.problem.check_actions(actions, actions.shape)
        return self.problem.noisy_rewards(self.np_random, self._expected, actions)

    def score_actions_at(self, index: int, actions: np.ndarray) -> np.ndarray:
        index = self._check_index(index)
        assert self._expected is not None
        actions = np.asarray(actions)
        if actions.ndim != 1:
            raise ValueError(f"actions must be arm indices shaped [K], got shape {actions.shape}")
        actions = self.problem.check_actions(actions, actions.shape)
        return self.problem.noisy_rewards(self.np_random, self._expected[index : index + 1], actions[None])[0]


class ContinuousBanditVectorEnv(_BanditVectorEnv):
    """
    ``N`` copies of :class:`~adpo_rl.envs.bandits.ContinuousBandit`, batched.

    Info columns: ``optimal_action`` ``[N, m]``; the ended episodes' ``final_info`` adds ``expected_reward`` ``[N]``
    of the actions taken.

    :param num_envs: number of copies ``N``
    :param kwargs: the keyword arguments of :class:`~adpo_rl.envs.bandits.ContinuousBandit`
    """

    problem: ContinuousBanditProblem

    def __init__(self, num_envs: int = 1, render_mode: str | None = None, **kwargs: Any) -> None:
        self.problem = build_continuous_problem(**kwargs)
        m = self.problem.action_dim
        self._setup_spaces(num_envs, spaces.Box(-1.0, 1.0, shape=(m,), dtype=np.float32), render_mode)
        self._optimal: np.ndarray | None = None

    def _new_episodes(self) -> dict[str, np.ndarray]:
        self._contexts = self.problem.sample_contexts(self.np_random, self.num_envs)
        self._optimal = self.problem.optimal_actions(self._contexts)
        return {"optimal_action": self._optimal}

    def _step_columns(self, actions: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        assert self._optimal is not None
        m = self.problem.action_dim
        actions = self.problem.check_actions(actions, (self.num_envs, m))[:, None, :]
        rewards = self.problem.noisy_rewards(self.np_random, self._optimal, actions)[:, 0]
        expected = self.problem.expected_rewards(self._optimal, actions)[:, 0]
        return rewards, {"optimal_action": self._optimal, "expected_reward": expected}

    def score_actions(self, actions: np.ndarray) -> np.ndarray:
        if self._optimal is None:
            raise RuntimeError("Call reset() before score_actions()")
        actions = np.asarray(actions, dtype=np.float32)
        m = self.problem.action_dim
        if actions.ndim != 3 or actions.shape[0] != self.num_envs or actions.shape[2] != m:
            raise ValueError(f"actions must be shaped [{self.num_envs}, K, {m}], got shape {actions.shape}")
        return self.problem.noisy_rewards(self.np_random, self._optimal, self.problem.check_actions(actions, actions.shape))

    def score_actions_at(self, index: int, actions: np.ndarray) -> np.ndarray:
        index = self._check_index(index)
        assert self._optimal is not None
        actions = np.asarray(actions, dtype=np.float32)
        m = self.problem.action_dim
        if actions.ndim != 2 or actions.shape[1] != m:
            raise ValueError(f"actions must be shaped [K, {m}], got shape {actions.shape}")
        actions = self.problem.check_actions(actions, actions.shape)
        return self.problem.noisy_rewards(self.np_random, self._optimal[index : index + 1], actions[None])[0]


VECTOR_ENV_CLASSES: dict[str, type[_BanditVectorEnv]] = {
    "adpo_rl/ContextualBandit-v0": ContextualBanditVectorEnv,
    "adpo_rl/ContinuousBandit-v0": ContinuousBanditVectorEnv,
}
"""The batched class of each bandit id."""


class BanditVecEnv(VecEnv):
    """
    SB3 ``VecEnv`` face of a batched bandit: SB3's auto-reset convention, no per-copy Python env.

    ``step_wait`` returns the new contexts; ``infos[i]`` describes the episode copy ``i`` just ended:
    ``terminal_observation`` (its context), ``TimeLimit.truncated`` (False), the env's info keys
    (``expected_rewards`` / ``optimal_action``, or ``optimal_action`` / ``expected_reward``) and, with
    ``episode_stats``, ``episode`` (``{"r": return, "l": 1, "t": seconds}``, what SB3's ``Monitor`` adds, so that
    ``rollout/ep_rew_mean`` is logged without a ``VecMonitor`` loop). ``reset_infos`` is filled by :meth:`reset` only.

    All copies share one generator: ``seed(s)`` (SB3 style) seeds it with ``s`` at the next ``reset``. Attributes are
    shared too: ``get_attr(name)`` returns the batched env's attribute for every copy. ``env_method`` supports
    ``"score_actions"`` per copy; the batched oracle is :meth:`score_actions`.

    :param vector_env: the batched bandit
    :param episode_stats: add Monitor-style ``episode`` entries to the step infos
    """

    def __init__(self, vector_env: _BanditVectorEnv, episode_stats: bool = True) -> None:
        self.vector_env = vector_env
        self.episode_stats = episode_stats
        self._actions: np.ndarray | None = None
        self._start_time = time.time()
        super().__init__(vector_env.num_envs, vector_env.single_observation_space, vector_env.single_action_space)

    @property
    def problem(self) -> ContextualBanditProblem | ContinuousBanditProblem:
        """The shared bandit problem."""
        return self.vector_env.problem

    @property
    def eval_mode(self) -> bool:
        """Whether contexts come from the evaluation distribution."""
        return self.vector_env.eval_mode

    @staticmethod
    def _columns(columns: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
        keys = [key for key in columns if not key.startswith("_")]
        return keys, [columns[key].tolist() if columns[key].ndim == 1 else list(columns[key]) for key in keys]

    def reset(self) -> VecEnvObs:
        options = self._options[0] or None
        obs, infos = self.vector_env.reset(seed=self._seeds[0], options=options)
        self._reset_seeds()
        self._reset_options()
        keys, values = self._columns(infos)
        self.reset_infos = [dict(zip(keys, row, strict=True)) for row in zip(*values, strict=True)]
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, terminations, truncations, infos = self.vector_env.step(self._actions)
        final_obs, final = infos["final_obs"], infos["final_info"]
        time_limit = (truncations & ~terminations).tolist()
        # All columns have length num_envs by construction, so zip needs no strict check in this hot loop.
        # Dict literals per copy: SB3 reads every info each step, so this loop is the adapter's main cost.
        if isinstance(self.vector_env, ContextualBanditVectorEnv):
            per_copy = [
                {"terminal_observation": o, "TimeLimit.truncated": t, "expected_rewards": e, "optimal_action": a}
                for o, t, e, a in zip(final_obs, time_limit, final["expected_rewards"], final["optimal_action"].tolist())  # noqa: B905
            ]
        else:
            per_copy = [
                {"terminal_observation": o, "TimeLimit.truncated": t, "optimal_action": a, "expected_reward": r}
                for o, t, a, r in zip(final_obs, time_limit, final["optimal_action"], final["expected_reward"].tolist())  # noqa: B905
            ]
        if self.episode_stats:
            elapsed = round(time.time() - self._start_time, 6)
            for info, r in zip(per_copy, rewards.tolist()):  # noqa: B905
                info["episode"] = {"r": r, "l": 1, "t": elapsed}
        return obs, rewards, terminations | truncations, per_copy

    def score_actions(self, actions: np.ndarray) -> np.ndarray:
        """
        Batched group oracle (see :meth:`_BanditVectorEnv.score_actions`).

        :param actions: ``[N, K]`` arm indices or ``[N, K, m]`` continuous actions
        :return: rewards ``[N, K]``, float32
        """
        return self.vector_env.score_actions(actions)

    def _indices(self, indices: VecEnvIndices) -> Sequence[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, (int, np.integer)):
            return [int(indices)]
        assert isinstance(indices, Iterable)
        return list(indices)

    def close(self) -> None:
        self.vector_env.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        value = getattr(self.vector_env, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.vector_env, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        if method_name != "score_actions":
            raise AttributeError(
                f"BanditVecEnv.env_method supports only 'score_actions' (per copy), got {method_name!r}; "
                "shared attributes are read with get_attr"
            )
        return [self.vector_env.score_actions_at(i, *method_args, **method_kwargs) for i in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]


def make_bandit_vec_env(
    env_id: str = "adpo_rl/ContextualBandit-v0",
    n_envs: int = 1,
    seed: int | None = None,
    episode_stats: bool = True,
    **kwargs: Any,
) -> BanditVecEnv:
    """
    SB3 ``VecEnv`` of ``n_envs`` batched copies of a bandit.

    :param env_id: a bandit id (``adpo_rl/ContextualBandit-v0``, ``adpo_rl/ContinuousBandit-v0``) or a scenario name
        (``none``, ``cauchy-high``, ...; see :data:`adpo_rl.envs.SCENARIOS`)
    :param n_envs: number of copies
    :param seed: seed of the shared generator, applied at the first ``reset`` (``None``: fresh entropy)
    :param episode_stats: add Monitor-style ``episode`` infos, so that ``rollout/ep_rew_mean`` is logged
        (no ``VecMonitor`` needed)
    :param kwargs: env keyword arguments (override the scenario's, e.g. ``eval_mode=True``, ``problem_seed=3``)
    :return: the VecEnv
    :raises ValueError: on an unknown id or scenario, listing the valid ones
    """
    from adpo_rl.envs.scenarios import resolve_env

    env_id, env_kwargs = resolve_env(env_id, **kwargs)
    if env_id not in VECTOR_ENV_CLASSES:
        valid = ", ".join(repr(k) for k in VECTOR_ENV_CLASSES)
        raise ValueError(f"{env_id!r} has no batched implementation; valid ids: {valid} (or a scenario name)")
    venv = BanditVecEnv(VECTOR_ENV_CLASSES[env_id](num_envs=n_envs, **env_kwargs), episode_stats=episode_stats)
    if seed is not None:
        venv.seed(seed)
    return venv
