"""Test-wide settings: one torch thread (the tests use tiny nets; this also keeps subprocesses from
oversubscribing the 2-core CI machine)."""
import os

import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)
