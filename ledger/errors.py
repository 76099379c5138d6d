"""The Ledger's errors. Each has a stable `code` the API puts in its JSON error body."""


class LedgerError(Exception):
    code = "ledger_error"
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownSubnet(LedgerError):
    code = "unknown_subnet"
    http_status = 404

    def __init__(self, netuid: int) -> None:
        super().__init__(f"no subnet with netuid {netuid} in the Ledger")
        self.netuid = netuid


class UnknownProposal(LedgerError):
    code = "unknown_proposal"
    http_status = 404


class InvalidEntry(LedgerError):
    code = "invalid_entry"
    http_status = 422


class StaleVersion(LedgerError):
    """A change was computed against a version that is no longer the newest."""

    code = "stale_version"
    http_status = 409


class ProposalRejected(LedgerError):
    code = "proposal_rejected"
    http_status = 422
