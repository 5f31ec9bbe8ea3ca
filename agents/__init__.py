"""The adpo-rl agent zoo (installed as ``adpo_rl.agents``)."""
