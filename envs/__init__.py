"""The adpo-rl gymnasium environment suite (installed as ``adpo_rl.envs``)."""
