"""Between the RPCs and the engines: per-model queues, dynamic batching, deadlines, admission."""

from newsmt.scheduler.batcher import Batcher, BatcherConfig, BatcherStats

__all__ = ["Batcher", "BatcherConfig", "BatcherStats"]
