"""The Subnet Ledger: what every subnet can do and how to call it.

So far it holds the controlled capability vocabulary that plans and routes share; the versioned,
verified registry builds on it.
"""

from ledger.vocabulary import Capability, is_capability

__all__ = ["Capability", "is_capability"]
