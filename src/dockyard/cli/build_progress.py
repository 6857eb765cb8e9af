"""Following a classic-builder JSON stream: steps, cached or running, elapsed time, each step's output."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BuildState", "Step"]

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_NOISE = re.compile(r"^( ---> |Removing intermediate container |Successfully (built|tagged) )")


@dataclass
class Step:
    number: int
    total: int
    instruction: str
    started: float
    finished: float | None = None
    cached: bool = False
    running: bool = False
    output: list[str] = field(default_factory=list)

    def elapsed(self, now: float) -> float:
        return (self.finished if self.finished is not None else now) - self.started

    @property
    def status(self) -> str:
        if self.cached:
            return "CACHED"
        if self.finished is None:
            return "RUNNING" if self.running else "..."
        return "DONE"


@dataclass
class BuildState:
    """The build as far as the stream told: fed message by message, read by the display."""

    clock: Callable[[], float] = time.monotonic
    steps: list[Step] = field(default_factory=list)
    image_id: str = ""
    tagged: list[str] = field(default_factory=list)
    error: str = ""
    _partial: str = ""

    @property
    def current(self) -> Step | None:
        return self.steps[-1] if self.steps else None

    def feed(self, msg: Any) -> None:
        if not isinstance(msg, dict):
            return
        if msg.get("error"):
            self.error = str(msg["error"])
            self._finish()
            return
        aux = msg.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            self.image_id = str(aux["ID"])
        text = msg.get("stream")
        if isinstance(text, str):
            # The classic builder splits a step's title and its newline into two messages.
            self._partial += text
            *lines, self._partial = self._partial.split("\n")
            for line in lines:
                self._line(line)

    def close(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = ""
        self._finish()

    def _finish(self) -> None:
        step = self.current
        if step is not None and step.finished is None:
            step.finished = self.clock()

    def _line(self, line: str) -> None:
        m = _STEP.match(line)
        if m:
            self._finish()
            self.steps.append(Step(int(m.group(1)), int(m.group(2)), m.group(3), self.clock()))
            return
        step = self.current
        if line.startswith("Successfully tagged "):
            self.tagged.append(line.removeprefix("Successfully tagged ").strip())
        if line.startswith("Successfully built "):
            self._finish()
        if step is None:
            return
        if line == " ---> Using cache":
            step.cached = True
        elif line.startswith(" ---> Running in "):
            step.running = True
        elif _NOISE.match(line):
            if line.startswith(" ---> ") and not line.startswith(" ---> Running"):
                self._finish()
        else:
            step.output.append(line)
