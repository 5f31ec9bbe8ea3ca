"""adpo-rl: Anchored Direct Preference Optimization (ADPO) for online reinforcement learning."""

import adpo_rl.envs  # noqa: F401  (registers the gymnasium ids)
from adpo_rl.adpo import ADPO
from adpo_rl.policies import ADPOPolicy
from adpo_rl.version import __version__

__all__ = ["ADPO", "ADPOPolicy", "__version__"]
