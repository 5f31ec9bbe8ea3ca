"""
Contextual bandits: one-step episodes whose hidden mean reward depends on a context.

Two parts, kept apart so that single envs, vector envs and metrics share one definition:

- a *problem* (:class:`ContextualBanditProblem`, :class:`ContinuousBanditProblem`): the hidden mean rewards, fixed by
  ``problem_seed`` alone, the context distribution in use (nominal, or shifted when ``eval_mode`` is set under the
  ``shift`` noise) and the reward noise. It holds no random state: every method that draws takes a generator, and
  works on batches (leading dimension ``N`` = number of contexts).
- the gymnasium envs (:class:`ContextualBandit`, :class:`ContinuousBandit`), which own the episode state and draw
  everything from ``self.np_random``. The natively batched versions live in :mod:`adpo_rl.envs.vector`.

Contexts are drawn uniformly from the box ``[-sqrt(3), sqrt(3)]^d`` (zero mean, unit variance per coordinate; on a
16-bit grid, see :class:`_ContextSampler`), plus
the shift ``delta * (1, ..., 1) / sqrt(d)`` for evaluation envs of the ``shift`` noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from adpo_rl.checks import check_choice
from adpo_rl.envs.noise import RewardNoise, make_noise

REWARD_MODELS: tuple[str, ...] = ("linear", "nonlinear")
"""Valid ``reward_model`` values of the discrete bandit."""

_HALF_WIDTH = math.sqrt(3.0)  # uniform on [-sqrt(3), sqrt(3)] has unit variance


def _check_positive_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _context_mean(context_dim: int, noise: RewardNoise, eval_mode: bool) -> np.ndarray:
    delta = noise.context_shift if eval_mode else 0.0
    return np.full(context_dim, delta / math.sqrt(context_dim), dtype=np.float32)


class _ContextSampler:
    """
    Contexts uniform on the unit-variance box, plus the mean of the context distribution in use.

    Each coordinate is drawn as a 16-bit integer ``i`` straight from the generator's raw bits and mapped to
    ``(i + 0.5) * sqrt(3) / 2^15``: uniform on a grid of 65536 points of ``(-sqrt(3), sqrt(3))`` (mean 0, variance 1
    up to 3e-10). Raw bits are about twice as fast as ``Generator.random`` here, and drawing contexts is most of the
    cost of a batched step.
    """

    def __init__(self, context_dim: int, context_mean: np.ndarray) -> None:
        self.context_dim = context_dim
        self.context_mean = context_mean
        self._scale = np.float32(_HALF_WIDTH / 2**15)
        self._offset = (context_mean + 0.5 * self._scale).astype(np.float32)

    def sample_contexts(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """
        Draw contexts.

        :param rng: generator to draw from
        :param n: number of contexts
        :return: contexts, shape ``[n, context_dim]``, float32
        """
        n_values = n * self.context_dim
        raw = rng.bit_generator.random_raw((n_values + 3) // 4)
        x = np.multiply(raw.view(np.int16)[:n_values].reshape(n, self.context_dim), self._scale, dtype=np.float32)
        x += self._offset
        return x


class ContextualBanditProblem(_ContextSampler):
    """
    Hidden problem of the discrete contextual bandit: mean rewards ``r(x, a)``, context distribution and noise.

    Reward models (parameters drawn from ``problem_seed`` only):

    - ``linear``: ``r(x, a) = w_a . x``, ``w_a ~ N(0, I / d)``, so each arm's reward has unit variance over contexts
      and every arm is optimal for some contexts.
    - ``nonlinear``: random features, ``r(x, a) = c * v_a . tanh(A x + b)`` with ``A ~ N(0, I / d)`` of shape
      ``[hidden_dim, d]``, ``b ~ U(-1, 1)``, ``v_a ~ N(0, I)``, and ``c`` set so rewards have unit variance over
      nominal contexts and arms.

    :param context_dim: dimension ``d`` of the context
    :param n_arms: number of arms
    :param reward_model: ``"linear"`` or ``"nonlinear"``
    :param hidden_dim: number of random features of the ``nonlinear`` model
    :param problem_seed: seed of the hidden reward parameters (independent of episode seeds)
    :param noise: reward-noise model
    :param eval_mode: draw contexts from the evaluation distribution (shifted under the ``shift`` noise)
    """

    def __init__(
        self,
        context_dim: int,
        n_arms: int,
        reward_model: str,
        hidden_dim: int,
        problem_seed: int,
        noise: RewardNoise,
        eval_mode: bool,
    ) -> None:
        super().__init__(context_dim, _context_mean(context_dim, noise, eval_mode))
        self.n_arms = n_arms
        self.reward_model = reward_model
        self.problem_seed = problem_seed
        self.noise = noise
        self.eval_mode = eval_mode
        rng = np.random.default_rng(problem_seed)
        if reward_model == "linear":
            self._weights = (rng.standard_normal((context_dim, n_arms)) / math.sqrt(context_dim)).astype(np.float32)
        else:
            self._features = (rng.standard_normal((context_dim, hidden_dim)) / math.sqrt(context_dim)).astype(np.float32)
            self._feature_bias = rng.uniform(-1.0, 1.0, hidden_dim).astype(np.float32)
            self._weights = rng.standard_normal((hidden_dim, n_arms)).astype(np.float32)
            nominal = _ContextSampler(context_dim, np.zeros(context_dim, dtype=np.float32))
            scale = self.expected_rewards(nominal.sample_contexts(rng, 4096)).std()
            self._weights /= np.float32(scale)

    def expected_rewards(self, contexts: np.ndarray) -> np.ndarray:
        """
        Mean reward of every arm.

        :param contexts: shape ``[N, d]``
        :return: shape ``[N, n_arms]``, float32
        """
        if self.reward_model == "linear":
            return contexts @ self._weights
        return np.tanh(contexts @ self._features + self._feature_bias) @ self._weights

    def noisy_rewards(self, rng: np.random.Generator, expected: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """
        Fresh noisy rewards of ``K`` arms at each of ``N`` contexts.

        :param rng: generator the noise is drawn from
        :param expected: mean rewards at the contexts, shape ``[N, n_arms]``
        :param actions: arm indices, shape ``[N, K]``
        :return: shape ``[N, K]``, float32
        """
        mean = expected[np.arange(expected.shape[0])[:, None], actions]
        if not self.noise.perturbs_rewards:
            return mean
        low = high = None
        if self.noise.name == "flip":
            low, high = expected.min(axis=1, keepdims=True), expected.max(axis=1, keepdims=True)
        return self.noise.perturb(mean, rng, low, high)

    def check_actions(self, actions: Any, shape: tuple[int, ...]) -> np.ndarray:
        """
        Validated integer arm indices.

        :param actions: array-like of arm indices
        :param shape: the shape they must have
        :return: the actions as an integer array
        :raises ValueError: on a wrong shape, a non-integer dtype or an index outside ``[0, n_arms)``
        """
        actions = np.asarray(actions)
        if actions.shape != shape or actions.dtype.kind not in "iu":
            raise ValueError(f"actions must be integers of shape {shape}, got {actions.dtype} of shape {actions.shape}")
        if actions.size and (actions.min() < 0 or actions.max() >= self.n_arms):
            raise ValueError(f"actions must be arm indices in [0, {self.n_arms}), got {actions}")
        return actions


class ContinuousBanditProblem(_ContextSampler):
    """
    Hidden problem of the continuous bandit: optimum ``a*(x) = tanh(B x)``, ``B ~ N(0, I / d)`` of shape ``[m, d]``
    (drawn from ``problem_seed`` only), and mean reward ``r(x, a) = 1 - ||a - a*(x)||^2 / m``, peaked at ``r = 1``.

    :param context_dim: dimension ``d`` of the context
    :param action_dim: dimension ``m`` of the action, in ``[-1, 1]^m``
    :param problem_seed: seed of the hidden parameters
    :param noise: reward-noise model; ``flip`` reflects between the best (1) and worst reward over the action box
    :param eval_mode: draw contexts from the evaluation distribution (shifted under the ``shift`` noise)
    """

    def __init__(self, context_dim: int, action_dim: int, problem_seed: int, noise: RewardNoise, eval_mode: bool) -> None:
        super().__init__(context_dim, _context_mean(context_dim, noise, eval_mode))
        self.action_dim = action_dim
        self.problem_seed = problem_seed
        self.noise = noise
        self.eval_mode = eval_mode
        rng = np.random.default_rng(problem_seed)
        self._weights = (rng.standard_normal((context_dim, action_dim)) / math.sqrt(context_dim)).astype(np.float32)

    def optimal_actions(self, contexts: np.ndarray) -> np.ndarray:
        """
        :param contexts: shape ``[N, d]``
        :return: the best action at each context, shape ``[N, m]``, float32
        """
        return np.tanh(contexts @ self._weights)

    def expected_rewards(self, optimal: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """
        :param optimal: optimal actions at the contexts, shape ``[N, m]``
        :param actions: candidate actions, shape ``[N, K, m]``, in ``[-1, 1]``
        :return: mean rewards, shape ``[N, K]``, float32
        """
        return np.float32(1.0) - np.square(actions - optimal[:, None, :]).mean(axis=-1, dtype=np.float32)

    def noisy_rewards(self, rng: np.random.Generator, optimal: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """
        Fresh noisy rewards of ``K`` actions at each of ``N`` contexts.

        :param rng: generator the noise is drawn from
        :param optimal: optimal actions at the contexts, shape ``[N, m]``
        :param actions: candidate actions, shape ``[N, K, m]``, in ``[-1, 1]``
        :return: shape ``[N, K]``, float32
        """
        mean = self.expected_rewards(optimal, actions)
        if not self.noise.perturbs_rewards:
            return mean
        low = high = None
        if self.noise.name == "flip":
            low = np.float32(1.0) - np.square(1.0 + np.abs(optimal)).mean(axis=-1, keepdims=True, dtype=np.float32)
            high = np.ones_like(low)
        return self.noise.perturb(mean, rng, low, high)

    def check_actions(self, actions: Any, shape: tuple[int, ...]) -> np.ndarray:
        """
        Actions as float32, clipped to ``[-1, 1]``.

        :param actions: array-like actions
        :param shape: the shape they must have (last dimension ``m``)
        :return: the clipped actions
        :raises ValueError: on a wrong shape or non-finite values
        """
        actions = np.asarray(actions, dtype=np.float32)
        if actions.shape != shape:
            raise ValueError(f"actions must have shape {shape}, got {actions.shape}")
        if not np.isfinite(actions).all():
            raise ValueError(f"actions must be finite, got {actions}")
        return np.clip(actions, -1.0, 1.0)


def _observation_space(problem: ContextualBanditProblem | ContinuousBanditProblem) -> spaces.Box:
    # The box holds training and (shifted) evaluation contexts alike, so that both envs have one space, as SB3's
    # check_for_correct_spaces requires when a model trained on one is evaluated on the other.
    d = problem.context_dim
    bound = np.float32(_HALF_WIDTH + abs(problem.noise.context_shift) / math.sqrt(d))
    return spaces.Box(-bound, bound, shape=(d,), dtype=np.float32)


def _check_render_mode(render_mode: str | None) -> None:
    # SB3's make_vec_env asks every env for render_mode="rgb_array"; the bandits accept it and render nothing.
    if render_mode not in (None, "rgb_array"):
        raise ValueError(f"The bandits do not render; render_mode must be None (or 'rgb_array', ignored), got {render_mode!r}")


def build_contextual_problem(
    context_dim: int = 16,
    n_arms: int = 10,
    reward_model: str = "linear",
    noise: str = "none",
    severity: str = "medium",
    noise_params: Mapping[str, float] | None = None,
    problem_seed: int = 0,
    eval_mode: bool = False,
    hidden_dim: int = 32,
) -> ContextualBanditProblem:
    """Validated :class:`ContextualBanditProblem` from the env keyword arguments (see :class:`ContextualBandit`)."""
    context_dim = _check_positive_int("context_dim", context_dim, 1)
    n_arms = _check_positive_int("n_arms", n_arms, 2)
    hidden_dim = _check_positive_int("hidden_dim", hidden_dim, 1)
    check_choice("reward_model", reward_model, REWARD_MODELS)
    noise_model = make_noise(noise, severity, noise_params)
    return ContextualBanditProblem(
        context_dim, n_arms, reward_model, hidden_dim, int(problem_seed), noise_model, bool(eval_mode)
    )


def build_continuous_problem(
    context_dim: int = 16,
    action_dim: int = 2,
    noise: str = "none",
    severity: str = "medium",
    noise_params: Mapping[str, float] | None = None,
    problem_seed: int = 0,
    eval_mode: bool = False,
) -> ContinuousBanditProblem:
    """Validated :class:`ContinuousBanditProblem` from the env keyword arguments (see :class:`ContinuousBandit`)."""
    context_dim = _check_positive_int("context_dim", context_dim, 1)
    action_dim = _check_positive_int("action_dim", action_dim, 1)
    noise_model = make_noise(noise, severity, noise_params)
    return ContinuousBanditProblem(context_dim, action_dim, int(problem_seed), noise_model, bool(eval_mode))


class ContextualBandit(gym.Env[np.ndarray, np.int64]):
    """
    Contextual bandit with discrete arms (``adpo_rl/ContextualBandit-v0``).

    Each episode is one step: ``reset`` draws a context ``x`` (the observation), ``step(a)`` pays a noisy reward
    with mean ``r(x, a)`` and terminates; the returned observation is the same context. ``info`` (from ``reset``
    and ``step``) carries ``expected_rewards`` (all arms, float32 ``[n_arms]``) and ``optimal_action`` (int) of the
    episode's context.

    :param context_dim: dimension ``d`` of the context (default 16)
    :param n_arms: number of arms (default 10; at least 2)
    :param reward_model: ``"linear"`` (default) or ``"nonlinear"`` (random features); see :class:`ContextualBanditProblem`
    :param noise: reward noise, one of ``none`` (default), ``gaussian``, ``cauchy``, ``flip``, ``shift``
        (see :mod:`adpo_rl.envs.noise`)
    :param severity: ``low``, ``medium`` (default) or ``high``
    :param noise_params: optional overrides of the severity's noise parameters, e.g. ``{"sigma": 0.5}``
    :param problem_seed: seed of the hidden reward parameters (default 0), independent of the episode seed, so that
        all vectorised copies and the evaluation env share one problem
    :param eval_mode: draw contexts from the evaluation distribution; it differs from training only under the
        ``shift`` noise. Build evaluation envs with ``eval_mode=True``.
    :param hidden_dim: number of random features of the ``nonlinear`` model (default 32)
    :param render_mode: must be ``None`` (no rendering)
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        context_dim: int = 16,
        n_arms: int = 10,
        reward_model: str = "linear",
        noise: str = "none",
        severity: str = "medium",
        noise_params: Mapping[str, float] | None = None,
        problem_seed: int = 0,
        eval_mode: bool = False,
        hidden_dim: int = 32,
        render_mode: str | None = None,
    ) -> None:
        _check_render_mode(render_mode)
        self.problem = build_contextual_problem(
            context_dim, n_arms, reward_model, noise, severity, noise_params, problem_seed, eval_mode, hidden_dim
        )
        self.render_mode = render_mode
        self.observation_space = _observation_space(self.problem)
        self.action_space = spaces.Discrete(self.problem.n_arms)
        self._context: np.ndarray | None = None
        self._expected: np.ndarray | None = None

    @property
    def eval_mode(self) -> bool:
        """Whether contexts come from the evaluation distribution."""
        return self.problem.eval_mode

    def _info(self) -> dict[str, Any]:
        assert self._expected is not None
        return {"expected_rewards": self._expected.copy(), "optimal_action": int(self._expected.argmax())}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        contexts = self.problem.sample_contexts(self.np_random, 1)
        self._context = contexts[0]
        self._expected = self.problem.expected_rewards(contexts)[0]
        return self._context.copy(), self._info()

    def step(self, action: int | np.integer) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._context is None or self._expected is None:
            raise RuntimeError("Call reset() before step()")
        actions = self.problem.check_actions(np.asarray(action).reshape(1, 1), (1, 1))
        reward = self.problem.noisy_rewards(self.np_random, self._expected[None], actions)[0, 0]
        return self._context.copy(), float(reward), True, False, self._info()

    def score_actions(self, actions: np.ndarray) -> np.ndarray:
        """
        Group oracle: fresh noisy rewards of candidate arms at the current context, without advancing the env.

        The noise is drawn from the env's generator (so later draws change), never the context or the episode.
        Under ``flip`` one coin decides for the whole group, so a flipped group's ranking is inverted.

        :param actions: arm indices, shape ``[K]`` (ints)
        :return: rewards, shape ``[K]``, float32
        """
        if self._expected is None:
            raise RuntimeError("Call reset() before score_actions()")
        actions = np.asarray(actions)
        if actions.ndim != 1:
            raise ValueError(f"actions must be arm indices shaped [K], got shape {actions.shape}")
        actions = self.problem.check_actions(actions, actions.shape)
        return self.problem.noisy_rewards(self.np_random, self._expected[None], actions[None])[0]

    def render(self) -> None:
        return None


class ContinuousBandit(gym.Env[np.ndarray, np.ndarray]):
    """
    Contextual bandit with continuous actions (``adpo_rl/ContinuousBandit-v0``).

    One-step episodes: ``reset`` draws a context ``x``; ``step(a)`` with ``a`` in ``[-1, 1]^m`` (clipped) pays a noisy
    reward with mean ``r(x, a) = 1 - ||a - a*(x)||^2 / m`` (maximum 1 at the context-dependent optimum ``a*(x)``) and
    terminates. ``info`` carries ``optimal_action`` (float32 ``[m]``); ``step`` adds ``expected_reward`` of the action.

    :param context_dim: dimension ``d`` of the context (default 16)
    :param action_dim: dimension ``m`` of the action (default 2)
    :param noise: reward noise, see :class:`ContextualBandit`
    :param severity: ``low``, ``medium`` (default) or ``high``
    :param noise_params: optional overrides of the severity's noise parameters
    :param problem_seed: seed of the hidden optimum map (default 0), independent of the episode seed
    :param eval_mode: draw contexts from the evaluation distribution (differs only under ``shift``)
    :param render_mode: must be ``None``
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        context_dim: int = 16,
        action_dim: int = 2,
        noise: str = "none",
        severity: str = "medium",
        noise_params: Mapping[str, float] | None = None,
        problem_seed: int = 0,
        eval_mode: bool = False,
        render_mode: str | None = None,
    ) -> None:
        _check_render_mode(render_mode)
        self.problem = build_continuous_problem(
            context_dim, action_dim, noise, severity, noise_params, problem_seed, eval_mode
        )
        self.render_mode = render_mode
        self.observation_space = _observation_space(self.problem)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(self.problem.action_dim,), dtype=np.float32)
        self._context: np.ndarray | None = None
        self._optimal: np.ndarray | None = None

    @property
    def eval_mode(self) -> bool:
        """Whether contexts come from the evaluation distribution."""
        return self.problem.eval_mode

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        contexts = self.problem.sample_contexts(self.np_random, 1)
        self._context = contexts[0]
        self._optimal = self.problem.optimal_actions(contexts)[0]
        return self._context.copy(), {"optimal_action": self._optimal.copy()}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._context is None or self._optimal is None:
            raise RuntimeError("Call reset() before step()")
        m = self.problem.action_dim
        actions = self.problem.check_actions(np.reshape(action, (1, 1, m)), (1, 1, m))
        reward = self.problem.noisy_rewards(self.np_random, self._optimal[None], actions)[0, 0]
        expected = self.problem.expected_rewards(self._optimal[None], actions)[0, 0]
        info = {"optimal_action": self._optimal.copy(), "expected_reward": float(expected)}
        return self._context.copy(), float(reward), True, False, info

    def score_actions(self, actions: np.ndarray) -> np.ndarray:
        """
        Group oracle: fresh noisy rewards of candidate actions at the current context, without advancing the env.

        :param actions: shape ``[K, m]``, clipped to ``[-1, 1]``
        :return: rewards, shape ``[K]``, float32
        """
        if self._optimal is None:
            raise RuntimeError("Call reset() before score_actions()")
        actions = np.asarray(actions, dtype=np.float32)
        m = self.problem.action_dim
        if actions.ndim != 2 or actions.shape[1] != m:
            raise ValueError(f"actions must be shaped [K, {m}], got shape {actions.shape}")
        actions = self.problem.check_actions(actions, actions.shape)
        return self.problem.noisy_rewards(self.np_random, self._optimal[None], actions[None])[0]

    def render(self) -> None:
        return None
