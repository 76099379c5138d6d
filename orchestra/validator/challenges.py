"""Synthetic challenges: objective + target schema pairs, varied so answers cannot be cached."""

import json
import random
import uuid
from dataclasses import dataclass
from importlib import resources
from typing import Any

from protocol.models import Constraints, TaskSpec


@dataclass(frozen=True)
class Challenge:
    spec: TaskSpec
    topic: str


class ChallengeGenerator:
    """Draws a topic, an objective template, a count and a schema; every task gets a fresh id."""

    def __init__(
        self, *, seed: int | None = None, deadline_ms: int = 30_000, material: dict[str, Any] | None = None
    ) -> None:
        self._rng = random.Random(seed)
        self.deadline_ms = deadline_ms
        data = material or json.loads(
            resources.files("orchestra.validator")
            .joinpath("data/challenges.json")
            .read_text(encoding="utf-8")
        )
        self.topics: list[dict[str, str]] = data["topics"]
        self.objectives: list[str] = data["objectives"]
        self.schemas: list[dict[str, Any]] = data["schemas"]

    def next(self) -> Challenge:
        topic = self._rng.choice(self.topics)
        template = self._rng.choice(self.objectives)
        objective = template.format(
            market=topic["market"], offer=topic["offer"], count=self._rng.choice((3, 4))
        )
        spec = TaskSpec(
            task_id=uuid.UUID(int=self._rng.getrandbits(128), version=4).hex,
            objective=objective,
            target_schema=self._rng.choice(self.schemas),
            constraints=Constraints(deadline_ms=self.deadline_ms),
        )
        return Challenge(spec=spec, topic=topic["name"])
