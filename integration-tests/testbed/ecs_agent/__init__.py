"""The test bed's ECS agent: runs the emulator's tasks as local processes under ECS's rules.

See `agent.py` (scheduling, reporting), `task.py` (one task's rules), `images.py` (the image
table) and `sandbox.py` (namespaces and file systems)."""

from .agent import Agent
from .images import Image, ImageError, lookup
from .sandbox import SandboxError
from .task import TaskRun

__all__ = ["Agent", "Image", "ImageError", "SandboxError", "TaskRun", "lookup"]
