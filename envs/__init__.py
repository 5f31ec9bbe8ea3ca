"""
The adpo-rl gymnasium environment suite (installed as ``adpo_rl.envs``); importing it registers the ids.

- ``adpo_rl/ContextualBandit-v0`` (:class:`ContextualBandit`) and ``adpo_rl/ContinuousBandit-v0``
  (:class:`ContinuousBandit`): one-step contextual bandits with the paper's reward noises, a group oracle
  ``score_actions`` and an ``eval_mode`` flag selecting the evaluation context distribution.
- Natively batched versions: ``gym.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point")`` and the SB3
  ``VecEnv`` of :func:`make_bandit_vec_env`.
- :data:`SCENARIOS`: ``none`` plus the 12 noisy scenarios ``<noise>-<severity>``; :func:`make_scenario`,
  :func:`scenario_env_kwargs`.
- :class:`NoisyReward`: the same noises for any gymnasium env.
- Metrics: :func:`win_mass`, :func:`regret`, :func:`bandit_metrics`, :class:`BanditMetricsCallback`.

This package knows nothing of the algorithm; it depends on numpy, gymnasium and SB3 only.
"""

from adpo_rl.envs.bandits import (
    REWARD_MODELS,
    ContextualBandit,
    ContextualBanditProblem,
    ContinuousBandit,
    ContinuousBanditProblem,
)
from adpo_rl.envs.metrics import (
    BanditMetricsCallback,
    action_regret,
    bandit_metrics,
    bandit_problem,
    discrete_bandit_metrics,
    held_out_contexts,
    regret,
    sb3_policy_probs,
    win_mass,
)
from adpo_rl.envs.noise import NOISES, SEVERITIES, SEVERITY_PARAMS, RewardNoise, make_noise
from adpo_rl.envs.registration import CONTEXTUAL_BANDIT_ID, CONTINUOUS_BANDIT_ID, ENV_IDS, register_envs
from adpo_rl.envs.scenarios import SCENARIOS, make_scenario, resolve_env, scenario_env_kwargs
from adpo_rl.envs.vector import (
    BanditVecEnv,
    ContextualBanditVectorEnv,
    ContinuousBanditVectorEnv,
    make_bandit_vec_env,
)
from adpo_rl.envs.wrappers import NoisyReward

register_envs()

__all__ = [
    "CONTEXTUAL_BANDIT_ID",
    "CONTINUOUS_BANDIT_ID",
    "ENV_IDS",
    "NOISES",
    "REWARD_MODELS",
    "SCENARIOS",
    "SEVERITIES",
    "SEVERITY_PARAMS",
    "BanditMetricsCallback",
    "BanditVecEnv",
    "ContextualBandit",
    "ContextualBanditProblem",
    "ContextualBanditVectorEnv",
    "ContinuousBandit",
    "ContinuousBanditProblem",
    "ContinuousBanditVectorEnv",
    "NoisyReward",
    "RewardNoise",
    "action_regret",
    "bandit_metrics",
    "bandit_problem",
    "discrete_bandit_metrics",
    "held_out_contexts",
    "make_bandit_vec_env",
    "make_noise",
    "make_scenario",
    "register_envs",
    "regret",
    "resolve_env",
    "sb3_policy_probs",
    "scenario_env_kwargs",
    "win_mass",
]
