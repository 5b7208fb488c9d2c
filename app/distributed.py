"""Sharing a file list between the processes torchrun starts (one per GPU or CPU slot).

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; without them this is one process and every
method is a no-op. Files are dealt out by rank (every WORLD_SIZE-th file), so the union of
the processes' outputs is what one process would write.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_environment(cls) -> Ranks:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        ranks = cls(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return ranks

    def device(self) -> str:
        """This process's device: its own GPU when there are GPUs."""
        if torch.cuda.is_available():
            return f"cuda:{self.local_rank % torch.cuda.device_count()}"
        return "cpu"

    def share(self, items: list) -> list:
        return items[self.rank :: self.world]

    def gather(self, items: list) -> list:
        """Every process's items, in rank order, on every process."""
        if self.world == 1:
            return list(items)
        everyone: list = [None] * self.world
        dist.all_gather_object(everyone, list(items))
        return [item for part in everyone for item in part]

    def total(self, count: int) -> int:
        return sum(self.gather([count]))

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
