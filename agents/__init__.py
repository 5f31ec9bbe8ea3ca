"""The adpo-rl agent zoo (installed as ``adpo_rl.agents``): hyperparameters per (algorithm, env) and ``make_model``."""

from adpo_rl.agents.callbacks import EvalLogCallback
from adpo_rl.agents.config import AgentConfig
from adpo_rl.agents.environments import EnvSpec, UnknownEnvironmentError, make_env, resolve_env
from adpo_rl.agents.factory import get_config, make_model
from adpo_rl.agents.registry import ALGOS, AlgoSpec, UnknownAlgorithmError, UnsupportedActionSpaceError, get_algo_spec

__all__ = [
    "ALGOS",
    "AgentConfig",
    "AlgoSpec",
    "EnvSpec",
    "EvalLogCallback",
    "UnknownAlgorithmError",
    "UnknownEnvironmentError",
    "UnsupportedActionSpaceError",
    "get_algo_spec",
    "get_config",
    "make_env",
    "make_model",
    "resolve_env",
]
