"""The builder: Dockerfile language, stages, the build cache and the step executor."""

from dockyard.build.api import BuildOptions, ImageState, RunResult, Worker
from dockyard.build.cache import BuildCache, CacheEntry, cache_key
from dockyard.build.executor import BuildFailed, Executor, scratch_state
from dockyard.build.stages import Stage, StagePlan, plan_stages

__all__ = [
    "BuildCache",
    "BuildFailed",
    "BuildOptions",
    "CacheEntry",
    "Executor",
    "ImageState",
    "RunResult",
    "Stage",
    "StagePlan",
    "Worker",
    "cache_key",
    "plan_stages",
    "scratch_state",
]
