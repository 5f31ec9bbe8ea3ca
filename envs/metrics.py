"""
Bandit metrics computed exactly from the hidden mean rewards, on held-out contexts.

- ``win_mass`` = mean over contexts of ``pi(a*(x) | x)``, the probability the policy gives the best arm
  (``1 / n_arms`` for the uniform policy, 1 for the optimal one);
- ``regret`` = mean over contexts of ``r(x, a*) - sum_a pi(a | x) r(x, a)`` (0 for the optimal policy);
- for the continuous bandit, ``regret`` of the deterministic action, ``r(x, a*(x)) - r(x, a(x)) = ||a - a*||^2 / m``.

Contexts are drawn from the env's own context distribution (so an env built with ``eval_mode=True`` evaluates on
the shifted contexts of the ``shift`` noise), with a dedicated generator seeded by ``seed``: the env's state is never
touched, and the same ``seed`` gives the same contexts at every evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv

from adpo_rl.envs.bandits import ContextualBanditProblem, ContinuousBanditProblem

PolicyProbsFn = Callable[[np.ndarray], np.ndarray]
"""``contexts [N, d] -> action probabilities [N, n_arms]``."""

PolicyActionFn = Callable[[np.ndarray], np.ndarray]
"""``contexts [N, d] -> actions [N, m]``."""

BanditProblem = ContextualBanditProblem | ContinuousBanditProblem


def bandit_problem(env: Any) -> BanditProblem:
    """
    The bandit problem behind an env.

    :param env: a bandit ``gym.Env`` (wrapped or not), a batched bandit (gymnasium vector env or SB3 ``VecEnv``, wrapped
        or not) or an SB3 ``VecEnv`` of single bandits (``DummyVecEnv``, ...)
    :return: its problem (mean rewards and context distribution)
    :raises ValueError: when the env is not an adpo_rl bandit
    """
    problem = None
    try:
        if isinstance(env, VecEnv):
            problem = getattr(env, "problem", None) or env.get_attr("problem", indices=[0])[0]
        elif isinstance(env, gym.Env):
            problem = env.get_wrapper_attr("problem")
        else:
            problem = getattr(env, "problem", None)
    except AttributeError:
        problem = None
    if not isinstance(problem, (ContextualBanditProblem, ContinuousBanditProblem)):
        raise ValueError(f"{env!r} is not an adpo_rl bandit env (ContextualBandit-v0 or ContinuousBandit-v0)")
    return problem


def held_out_contexts(env: Any, n_contexts: int = 1000, seed: int = 0) -> np.ndarray:
    """
    Contexts from the env's context distribution, drawn with a dedicated generator.

    :param env: a bandit env (see :func:`bandit_problem`)
    :param n_contexts: how many
    :param seed: seed of the generator
    :return: contexts, shape ``[n_contexts, d]``, float32
    """
    if n_contexts < 1:
        raise ValueError(f"n_contexts must be >= 1, got {n_contexts}")
    return bandit_problem(env).sample_contexts(np.random.default_rng(seed), n_contexts)


def _discrete_problem(env: Any) -> ContextualBanditProblem:
    problem = bandit_problem(env)
    if not isinstance(problem, ContextualBanditProblem):
        raise ValueError("win_mass and regret of a probability vector need the discrete bandit; use action_regret")
    return problem


def _policy_probs(policy_probs_fn: PolicyProbsFn, contexts: np.ndarray, n_arms: int) -> np.ndarray:
    probs = np.asarray(policy_probs_fn(contexts), dtype=np.float64)
    if probs.shape != (contexts.shape[0], n_arms):
        raise ValueError(f"policy_probs_fn must return probabilities shaped {(contexts.shape[0], n_arms)}, got {probs.shape}")
    return probs


def win_mass(policy_probs_fn: PolicyProbsFn, env: Any, n_contexts: int = 1000, seed: int = 0) -> float:
    """
    Mean probability of the best arm, ``E_x pi(a*(x) | x)``, over held-out contexts (discrete bandit).

    :param policy_probs_fn: ``contexts [N, d] -> probabilities [N, n_arms]``
    :param env: a discrete bandit env (see :func:`bandit_problem`)
    :param n_contexts: number of held-out contexts
    :param seed: seed of the held-out contexts
    :return: the win mass, in ``[0, 1]``
    """
    return discrete_bandit_metrics(policy_probs_fn, env, n_contexts, seed)["win_mass"]


def regret(policy_probs_fn: PolicyProbsFn, env: Any, n_contexts: int = 1000, seed: int = 0) -> float:
    """
    Mean expected regret, ``E_x [r(x, a*) - sum_a pi(a | x) r(x, a)]``, over held-out contexts (discrete bandit).

    :param policy_probs_fn: ``contexts [N, d] -> probabilities [N, n_arms]``
    :param env: a discrete bandit env (see :func:`bandit_problem`)
    :param n_contexts: number of held-out contexts
    :param seed: seed of the held-out contexts
    :return: the regret, ``>= 0``
    """
    return discrete_bandit_metrics(policy_probs_fn, env, n_contexts, seed)["regret"]


def discrete_bandit_metrics(
    policy_probs_fn: PolicyProbsFn, env: Any, n_contexts: int = 1000, seed: int = 0
) -> dict[str, float]:
    """
    ``win_mass`` and ``regret`` from one evaluation of the policy on the same held-out contexts.

    :param policy_probs_fn: ``contexts [N, d] -> probabilities [N, n_arms]``
    :param env: a discrete bandit env
    :param n_contexts: number of held-out contexts
    :param seed: seed of the held-out contexts
    :return: ``{"win_mass": ..., "regret": ...}``
    """
    problem = _discrete_problem(env)
    contexts = held_out_contexts(env, n_contexts, seed)
    expected = problem.expected_rewards(contexts).astype(np.float64)
    probs = _policy_probs(policy_probs_fn, contexts, problem.n_arms)
    best = expected.argmax(axis=1)
    mass = probs[np.arange(len(best)), best].mean()
    gap = expected.max(axis=1) - (probs * expected).sum(axis=1)
    return {"win_mass": float(mass), "regret": float(gap.mean())}


def action_regret(policy_action_fn: PolicyActionFn, env: Any, n_contexts: int = 1000, seed: int = 0) -> float:
    """
    Mean regret of a deterministic policy on the continuous bandit, ``E_x [1 - r(x, a(x))]``.

    :param policy_action_fn: ``contexts [N, d] -> actions [N, m]`` (clipped to ``[-1, 1]``)
    :param env: a continuous bandit env
    :param n_contexts: number of held-out contexts
    :param seed: seed of the held-out contexts
    :return: the regret, ``>= 0``
    """
    problem = bandit_problem(env)
    if not isinstance(problem, ContinuousBanditProblem):
        raise ValueError("action_regret needs the continuous bandit; use regret / win_mass for the discrete one")
    contexts = held_out_contexts(env, n_contexts, seed)
    actions = np.clip(np.asarray(policy_action_fn(contexts), dtype=np.float32), -1.0, 1.0)
    if actions.shape != (n_contexts, problem.action_dim):
        expected_shape = (n_contexts, problem.action_dim)
        raise ValueError(f"policy_action_fn must return actions shaped {expected_shape}, got {actions.shape}")
    optimal = problem.optimal_actions(contexts)
    return float((1.0 - problem.expected_rewards(optimal, actions[:, None, :])[:, 0]).mean())


def sb3_policy_probs(model: BaseAlgorithm) -> PolicyProbsFn:
    """
    ``policy_probs_fn`` of an SB3 model with a categorical policy.

    Works for any model whose ``model.policy.get_distribution(obs)`` returns an SB3 ``Distribution`` wrapping a torch
    ``Categorical`` (PPO, A2C, ADPO). Contexts are fed as they are (no ``VecNormalize``).

    :param model: the model
    :return: ``contexts [N, d] -> probabilities [N, n_arms]`` (numpy)
    """

    def policy_probs(contexts: np.ndarray) -> np.ndarray:
        policy = model.policy
        was_training = policy.training
        policy.set_training_mode(False)
        try:
            obs, _ = policy.obs_to_tensor(contexts)
            with th.no_grad():
                dist = policy.get_distribution(obs)  # type: ignore[operator]
            return dist.distribution.probs.cpu().numpy()
        finally:
            policy.set_training_mode(was_training)

    return policy_probs


def bandit_metrics(model: BaseAlgorithm, eval_env: Any, n_contexts: int = 1000, seed: int = 0) -> dict[str, float]:
    """
    Metrics of an SB3 model on a bandit: ``win_mass`` and ``regret`` (exact, from the policy's probabilities) on the
    discrete bandit; ``regret`` of ``model.predict(..., deterministic=True)`` on the continuous one.

    :param model: the model
    :param eval_env: a bandit env (see :func:`bandit_problem`); build it with ``eval_mode=True``
    :param n_contexts: number of held-out contexts
    :param seed: seed of the held-out contexts
    :return: ``{"win_mass": ..., "regret": ...}`` or ``{"regret": ...}``
    """
    problem = bandit_problem(eval_env)
    if isinstance(problem, ContextualBanditProblem):
        return discrete_bandit_metrics(sb3_policy_probs(model), eval_env, n_contexts, seed)

    def predict(contexts: np.ndarray) -> np.ndarray:
        return model.predict(contexts, deterministic=True)[0]

    return {"regret": action_regret(predict, eval_env, n_contexts, seed)}


class BanditMetricsCallback(BaseCallback):
    """
    Log ``eval/win_mass`` and ``eval/regret`` (see :func:`bandit_metrics`) during training, against ``num_timesteps``.

    Evaluates at the start of training, whenever ``num_timesteps`` crosses a multiple of ``eval_freq``, and at the end
    (after the last update).
    ``eval_freq`` counts environment timesteps (not callback calls, unlike SB3's ``EvalCallback``), so curves of
    algorithms with different ``n_envs`` or group sizes line up. Like ``EvalCallback`` it dumps the logger after each
    evaluation. Every result is also kept in :attr:`evaluations` as ``(num_timesteps, metrics)``.

    :param eval_env: a bandit env (build it with ``eval_mode=True``)
    :param eval_freq: evaluate every ``eval_freq`` environment timesteps
    :param n_contexts: number of held-out contexts per evaluation
    :param seed: seed of the held-out contexts (the same contexts at every evaluation)
    :param verbose: 1 prints each evaluation
    """

    def __init__(
        self, eval_env: Any, eval_freq: int = 10_000, n_contexts: int = 1000, seed: int = 0, verbose: int = 0
    ) -> None:
        super().__init__(verbose)
        if eval_freq < 1:
            raise ValueError(f"eval_freq must be >= 1, got {eval_freq}")
        bandit_problem(eval_env)  # fail early on a non-bandit env
        self.eval_env = eval_env
        self.eval_freq = eval_freq
        self.n_contexts = n_contexts
        self.seed = seed
        self.evaluations: list[tuple[int, dict[str, float]]] = []
        self._next_eval = 0

    def _evaluate(self) -> None:
        metrics = bandit_metrics(self.model, self.eval_env, self.n_contexts, self.seed)
        self.evaluations.append((self.num_timesteps, metrics))
        for key, value in metrics.items():
            self.logger.record(f"eval/{key}", value)
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(self.num_timesteps)
        if self.verbose >= 1:
            print(f"Bandit eval num_timesteps={self.num_timesteps}: {metrics}")
        self._next_eval = (self.num_timesteps // self.eval_freq + 1) * self.eval_freq

    def _on_training_start(self) -> None:
        self._evaluate()

    def _on_step(self) -> bool:
        # The last evaluation waits for the end of training: on-policy algorithms still update after the last step.
        final = self.num_timesteps >= getattr(self.model, "_total_timesteps", float("inf"))
        if self.num_timesteps >= self._next_eval and not final:
            self._evaluate()
        return True

    def _on_training_end(self) -> None:
        if not self.evaluations or self.evaluations[-1][0] != self.num_timesteps:
            self._evaluate()
