"""Shared test configuration: one torch thread keeps the suite fast and deterministic on small CPUs."""

import torch

torch.set_num_threads(1)
