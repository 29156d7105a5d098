"""Which items a rank and a DataLoader worker read, in which order, per epoch. Pure arithmetic.

The policy, so that runs are reproducible and resumable:

1. Each epoch permutes all items with ``random.Random(f"{seed}:{epoch}")`` (a global
   shuffle, not a window), or keeps id order without shuffling.
2. Rank r of W takes the r-th contiguous block of ``n // W`` items of that order: every
   rank gets the same number of items; the ``n % W`` items left at the end of the
   permutation are not read that epoch (they differ from epoch to epoch).
3. A rank's block is cut into batches of ``batch_size``; batch k goes to DataLoader worker
   ``k % num_workers``. A DataLoader with the same batch size collects batches round-robin
   from its workers, so the sequence a rank trains on is the same for any worker count —
   which is what lets a run resume mid-epoch after changing the number of workers.
"""

import random


def epoch_order(count: int, *, seed: int, epoch: int, shuffle: bool) -> list[int]:
    """All item indices in the order epoch ``epoch`` visits them."""
    order = list(range(count))
    if shuffle:
        random.Random(f"{seed}:{epoch}").shuffle(order)
    return order


def rank_block(order: list[int], *, rank: int, world_size: int) -> list[int]:
    """The items of ``rank``: an equal, disjoint share for every rank (the remainder is dropped)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in 0..{world_size - 1} (world_size {world_size})")
    share = len(order) // world_size
    return order[rank * share : (rank + 1) * share]


def worker_items(block: list[int], *, skip: int, batch_size: int, worker: int, num_workers: int) -> list[int]:
    """What worker ``worker`` reads of ``block`` after the first ``skip`` items, in order."""
    remaining = block[skip:]
    batches = [remaining[i : i + batch_size] for i in range(0, len(remaining), batch_size)]
    return [item for k, batch in enumerate(batches) if k % num_workers == worker for item in batch]
