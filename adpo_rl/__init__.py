"""adpo-rl: Anchored Direct Preference Optimization (ADPO) for online reinforcement learning."""

from adpo_rl.version import __version__

__all__ = ["__version__"]
