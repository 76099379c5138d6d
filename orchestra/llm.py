"""Language-model access for the planner and the synthesiser.

Both take a `ChatModel`. In a miner it is `orchestra.executor.RouteChat`: it sends the conversation
to the best `openai` route the router knows for `llm_inference` (SN64 Chutes, SN4 Targon, ...),
falling back across routes, and every call it makes is a receipted call of the job like any
producer call.
"""

from typing import Any, Protocol

from orchestra.errors import OrchestraError
from protocol.models import ErrorCode


class LlmUnavailable(OrchestraError):
    """No inference route answered usefully; callers fall back to their rule-based path."""

    code = ErrorCode.PRODUCER_UNAVAILABLE


class ChatModel(Protocol):
    async def complete(
        self, messages: list[dict[str, str]], *, purpose: str, json_schema: dict[str, Any] | None = None
    ) -> str:
        """The assistant message's content. Raises `LlmUnavailable` when no route answers."""
        ...
