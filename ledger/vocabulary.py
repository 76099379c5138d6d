"""The controlled vocabulary of capabilities a subnet can offer.

Plans name capabilities, routes declare them and the Ledger indexes subnets by them, so the words
must be shared and few. Adding one is a deliberate change: add it here with a definition.
"""

from enum import Enum


class Capability(str, Enum):
    WEB_SEARCH = "web_search"
    SOCIAL_SEARCH = "social_search"
    SOCIAL_DATA = "social_data"
    LLM_INFERENCE = "llm_inference"
    CODE_GENERATION = "code_generation"
    CHAIN_RPC = "chain_rpc"


DEFINITIONS: dict[Capability, str] = {
    Capability.WEB_SEARCH: "Search the web for a query and return ranked pages (title, link, snippet).",
    Capability.SOCIAL_SEARCH: "Search social platforms (X, Reddit) for posts matching a live query.",
    Capability.SOCIAL_DATA: "Serve stored, scraped social posts by source, label and time bucket.",
    Capability.LLM_INFERENCE: "Complete a prompt or chat with a language model.",
    Capability.CODE_GENERATION: "Produce code or patches for a described software task.",
    Capability.CHAIN_RPC: "Answer blockchain JSON-RPC calls, reproducibly when pinned to a block.",
}


def is_capability(name: str) -> bool:
    return name in {c.value for c in Capability}
