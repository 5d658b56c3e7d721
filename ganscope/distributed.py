"""Data-parallel training over the processes that ``torchrun`` starts (docs/scale.md, "Many processes").

ganscope takes its gradients with ``torch.autograd.grad`` (DistributedDataParallel's hooks do not see it, and DDP
does not support the double backward of gradient penalties), so, as stylegan2-ada-pytorch does, the gradients are
averaged explicitly after each phase, in one flattened buffer:

    ḡ = (1/W) Σ_r g_r        (one ``all_reduce(SUM)`` of the concatenated gradients, then ÷ W)

where g_r is rank r's gradient of its losses on its own batch of B. Every loss and penalty is a mean over the
batch, so the mean of the W equal-size rank means is the mean over the global batch of W·B: ḡ is the gradient of
the global-batch objective. Parameters start equal on every rank (the same seed) and receive the same ḡ, so they
stay equal (``same_on_all_ranks`` checks it).

``Ranks.from_env`` reads torchrun's ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; without them (a plain process)
it is the single rank ``SINGLE`` and nothing here touches ``torch.distributed``. ``join`` initialises the process
group: gloo on CPU, NCCL on CUDA (each rank on ``cuda:LOCAL_RANK``).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ganscope.errors import UsageError

_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Ranks:
    """This process's place in a data-parallel job: ``rank`` of ``world`` processes, ``local_rank`` on its node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes the run directory."""
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.world > 1

    @classmethod
    def from_env(cls, env=None) -> Ranks:
        """The ranks torchrun gives in ``env`` (default ``os.environ``); ``SINGLE`` when WORLD_SIZE is unset."""
        env = os.environ if env is None else env
        if "WORLD_SIZE" not in env:
            return SINGLE
        values = {}
        for name in _ENV:
            text = env.get(name, "0" if name == "LOCAL_RANK" else None)
            try:
                values[name] = int(text)
            except (TypeError, ValueError):
                raise UsageError(f"{name}: torchrun's environment gives {text!r}; expected an integer") from None
        rank, world, local = values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"]
        if world < 1 or not 0 <= rank < world or local < 0:
            raise UsageError(f"RANK/WORLD_SIZE: rank {rank} of {world} processes is not a valid place in a job")
        return cls(rank, world, local)

    # ---- collectives (every rank calls them at the same point; identities on a single rank) -------------------
    def average(self, tensors) -> list[torch.Tensor]:
        """(1/W) Σ_r tensors_r for a list of tensors, in one flattened all-reduce buffer; the inputs are not
        changed. On a single rank: the tensors themselves."""
        tensors = list(tensors)
        if not self.parallel or not tensors:
            return tensors
        flat = torch.cat([t.detach().reshape(-1) for t in tensors])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.world
        return [piece.view_as(t) for piece, t in zip(flat.split([t.numel() for t in tensors]), tensors)]

    def gather(self, obj) -> list | None:
        """Every rank's ``obj`` (picklable) as a list by rank on rank 0, None on the others."""
        if not self.parallel:
            return [obj]
        out = [None] * self.world if self.main else None
        dist.gather_object(obj, out, dst=0)
        return out

    def same_on_all_ranks(self, tensors) -> bool:
        """Whether ``tensors`` are bit-identical on every rank (the same answer on every rank)."""
        if not self.parallel:
            return True
        flat = torch.cat([t.detach().reshape(-1) for t in tensors])
        first = flat.clone()
        dist.broadcast(first, src=0)  # rank 0's values, compared bit for bit on each rank
        differs = torch.tensor([float(not torch.equal(first, flat))], device=flat.device)
        dist.all_reduce(differs, op=dist.ReduceOp.MAX)
        return not bool(differs.item())

    def barrier(self):
        if self.parallel:
            dist.barrier()


SINGLE = Ranks()


def backend(device) -> str:
    """``nccl`` for a CUDA device, ``gloo`` otherwise."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def rank_device(device, ranks: Ranks) -> torch.device:
    """The device of this rank: ``cuda:LOCAL_RANK`` for a CUDA device without an index, else ``device``."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None and ranks.parallel:
        return torch.device("cuda", ranks.local_rank)
    return device


def join(device="cpu", env=None) -> Ranks:
    """This process's ``Ranks``, with the process group initialised when torchrun started several (gloo on
    CPU, NCCL on CUDA; ``MASTER_ADDR``/``MASTER_PORT`` from torchrun's environment). Idempotent."""
    ranks = Ranks.from_env(env)
    if not ranks.parallel or dist.is_initialized():
        return ranks
    if not dist.is_available():
        raise UsageError("WORLD_SIZE: this torch build has no torch.distributed; run a single process")
    here = rank_device(device, ranks)
    if here.type == "cuda":
        torch.cuda.set_device(here)
    dist.init_process_group(backend(here), rank=ranks.rank, world_size=ranks.world)
    return ranks


@contextmanager
def session(device="cpu", env=None):
    """``join`` for the length of a block: yields this process's ``Ranks`` and tears down the process group
    afterwards if this block initialised it (a caller's own group is left as it is). After a block that ended
    normally every rank waits at a barrier first: a rank that tore gloo down while its peer still had a
    collective or its own teardown in flight could abort at exit (``terminate called without an active
    exception``). After an exception there is no barrier, which the peers might never reach."""
    owned = not (dist.is_available() and dist.is_initialized())
    ranks = join(device, env)
    ended = False
    try:
        yield ranks
        ended = True
    finally:
        if owned and ranks.parallel and dist.is_initialized():
            if ended:
                dist.barrier()
            dist.destroy_process_group()
