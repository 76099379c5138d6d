"""The controlled vocabulary of capabilities a subnet can offer.

Plans name capabilities, routes declare them and the Ledger indexes subnets by them, so the words
must be shared and few. Adding one is a deliberate change: add it here with a definition and the
search terms people use for it (capability search ranks subnets by these), and list it in
docs/Ledger.md.
"""

from enum import Enum


class Capability(str, Enum):
    WEB_SEARCH = "web_search"
    SOCIAL_SEARCH = "social_search"
    SOCIAL_DATA = "social_data"
    LLM_INFERENCE = "llm_inference"
    CODE_GENERATION = "code_generation"
    CHAIN_RPC = "chain_rpc"
    MEDIA_GENERATION = "media_generation"
    MEDIA_ANALYSIS = "media_analysis"
    FORECASTING = "forecasting"
    FINANCIAL_DATA = "financial_data"
    DEFI = "defi"
    COMPUTE = "compute"
    MODEL_TRAINING = "model_training"
    STORAGE = "storage"
    DATASET = "dataset"
    RETRIEVAL = "retrieval"
    SECURITY = "security"
    AGENTS = "agents"
    VERIFIABLE_COMPUTE = "verifiable_compute"
    SCIENCE = "science"
    OPTIMIZATION = "optimization"
    RECOMMENDATION = "recommendation"


DEFINITIONS: dict[Capability, str] = {
    Capability.WEB_SEARCH: "Search the web for a query and return ranked pages (title, link, snippet).",
    Capability.SOCIAL_SEARCH: "Search social platforms (X, Reddit) for posts matching a live query.",
    Capability.SOCIAL_DATA: "Serve stored, scraped social posts by source, label and time bucket.",
    Capability.LLM_INFERENCE: "Complete a prompt or chat with a language model.",
    Capability.CODE_GENERATION: "Produce code or patches for a described software task.",
    Capability.CHAIN_RPC: "Answer blockchain JSON-RPC calls, reproducibly when pinned to a block.",
    Capability.MEDIA_GENERATION: "Generate images, video, audio, speech or 3D assets from a prompt.",
    Capability.MEDIA_ANALYSIS: "Classify or analyse images and video (deepfake detection, vision tasks).",
    Capability.FORECASTING: "Predict future values or outcomes: prices, weather, events, markets.",
    Capability.FINANCIAL_DATA: "Serve market, trading or financial intelligence and signals.",
    Capability.DEFI: "Execute or quote on-chain financial operations: swaps, lending, liquidity.",
    Capability.COMPUTE: "Rent GPU or CPU compute, or run a container or job on it.",
    Capability.MODEL_TRAINING: "Train, fine-tune or pre-train models, often as a shared run.",
    Capability.STORAGE: "Store and serve files or objects.",
    Capability.DATASET: "Produce or serve datasets: synthetic, labelled, conversational or scraped.",
    Capability.RETRIEVAL: "Retrieve relevant documents or memories for a query (RAG, embeddings).",
    Capability.SECURITY: "Find vulnerabilities, red-team models or detect fraud and abuse.",
    Capability.AGENTS: "Run autonomous agents that carry out multi-step tasks.",
    Capability.VERIFIABLE_COMPUTE: "Return outputs with a proof of correct execution (zk, TEE).",
    Capability.SCIENCE: "Solve scientific problems: proteins, molecules, genomics, physics.",
    Capability.OPTIMIZATION: "Solve optimisation problems: routing, scheduling, chip design.",
    Capability.RECOMMENDATION: "Recommend items, products or content for a user or context.",
}

# Words users type for a capability, beyond its own name and definition.
SEARCH_TERMS: dict[Capability, tuple[str, ...]] = {
    Capability.WEB_SEARCH: ("search", "web", "google", "links", "pages", "news", "research"),
    Capability.SOCIAL_SEARCH: (
        "social",
        "sentiment",
        "twitter",
        "x",
        "tweets",
        "reddit",
        "posts",
        "opinion",
        "buzz",
        "mentions",
    ),
    Capability.SOCIAL_DATA: (
        "social",
        "sentiment",
        "scraping",
        "scraped",
        "reddit",
        "twitter",
        "youtube",
        "posts",
        "dataset",
        "data",
    ),
    Capability.LLM_INFERENCE: ("llm", "chat", "completion", "gpt", "language", "model", "text", "openai"),
    Capability.CODE_GENERATION: ("code", "coding", "programming", "software", "patch", "developer", "swe"),
    Capability.CHAIN_RPC: ("rpc", "blockchain", "node", "json-rpc", "ethereum", "substrate", "chain"),
    Capability.MEDIA_GENERATION: ("image", "video", "audio", "speech", "3d", "text-to-image", "generation"),
    Capability.MEDIA_ANALYSIS: ("vision", "deepfake", "detection", "image", "video", "classification"),
    Capability.FORECASTING: ("prediction", "forecast", "price", "weather", "markets", "betting", "odds"),
    Capability.FINANCIAL_DATA: ("finance", "trading", "market", "stocks", "signals", "investing", "alpha"),
    Capability.DEFI: ("defi", "swap", "lending", "liquidity", "bridge", "stablecoin", "yield"),
    Capability.COMPUTE: ("gpu", "compute", "cloud", "rent", "hardware", "cpu", "container"),
    Capability.MODEL_TRAINING: ("training", "pretraining", "fine-tuning", "finetune", "distributed"),
    Capability.STORAGE: ("storage", "files", "ipfs", "s3", "objects", "hosting"),
    Capability.DATASET: ("dataset", "data", "synthetic", "labelled", "corpus", "annotation"),
    Capability.RETRIEVAL: ("rag", "retrieval", "embeddings", "memory", "vector", "knowledge"),
    Capability.SECURITY: ("security", "vulnerability", "audit", "red-team", "fraud", "bots"),
    Capability.AGENTS: ("agent", "agents", "autonomous", "assistant", "workflow", "tools"),
    Capability.VERIFIABLE_COMPUTE: ("zk", "zkml", "proof", "tee", "verifiable", "attestation"),
    Capability.SCIENCE: ("protein", "molecule", "drug", "genomics", "chemistry", "biology", "quantum"),
    Capability.OPTIMIZATION: ("optimization", "optimisation", "solver", "routing", "scheduling", "chip"),
    Capability.RECOMMENDATION: ("recommendation", "recommender", "ecommerce", "products", "personalisation"),
}

_NAMES = frozenset(c.value for c in Capability)


def is_capability(name: str) -> bool:
    return name in _NAMES
