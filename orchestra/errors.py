"""Orchestra's exception hierarchy. Every error a user can cause carries a stable `ErrorCode`."""

from dataclasses import dataclass

from protocol.models import ErrorCode, TaskError


class OrchestraError(Exception):
    """Base class: `code` says what kind of failure, the message says what exactly."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, *, step_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.step_id = step_id

    def to_task_error(self) -> TaskError:
        return TaskError(code=self.code, message=self.message[:2_000], step_id=self.step_id)


class InvalidRequestError(OrchestraError):
    code = ErrorCode.INVALID_REQUEST


class ObjectiveTooLongError(InvalidRequestError):
    code = ErrorCode.OBJECTIVE_TOO_LONG


class SchemaError(OrchestraError):
    """A target schema that cannot be compiled. `path` points at the offending part (JSON path)."""

    code = ErrorCode.INVALID_SCHEMA

    def __init__(self, message: str, *, path: str = "$") -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


@dataclass(frozen=True)
class FieldError:
    """One validation failure at a JSON path such as `$.competitors[0].pricing` (`loc` holds its parts)."""

    path: str
    message: str
    loc: tuple[str | int, ...] = ()

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ResultValidationError(OrchestraError):
    """Data that does not match a compiled target schema."""

    code = ErrorCode.SYNTHESIS_FAILED

    def __init__(self, errors: list[FieldError]) -> None:
        shown = "; ".join(str(error) for error in errors[:5])
        more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"result does not match the target schema: {shown}{more}")
        self.errors = errors


class PlanningError(OrchestraError):
    code = ErrorCode.PLANNING_FAILED


class SynthesisError(OrchestraError):
    code = ErrorCode.SYNTHESIS_FAILED


class DeadlineExceededError(OrchestraError):
    code = ErrorCode.DEADLINE_EXCEEDED


class CanonicalizationError(OrchestraError):
    """A value that has no canonical JSON form (NaN, infinities, non-string keys, unknown types)."""

    code = ErrorCode.INVALID_REQUEST


class ChainError(OrchestraError):
    """A chain read or write failed."""


class ConfigError(OrchestraError):
    """Settings that cannot work (missing wallet, unknown network, bad route table)."""

    code = ErrorCode.INVALID_REQUEST
