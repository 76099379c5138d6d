"""Protocol version: what validators and miners must agree on to talk to each other."""

PROTOCOL_VERSION = "1.0.0"


def spec_version(version: str = PROTOCOL_VERSION) -> int:
    """The integer form bittensor uses as the weights `version_key` (1000*major + 10*minor + patch)."""
    major, minor, patch = (int(part) for part in version.split("."))
    return 1000 * major + 10 * minor + patch


SPEC_VERSION = spec_version()
