#!/usr/bin/env python
"""Regenerate ledger/data/seed.json, the Subnet Ledger's first entries, from public facts about subnets.

Hosts, links, tags and status come from the public-facts CSV. Capabilities and descriptions are curated
by hand in `CURATED`; a subnet whose purpose the public facts do not establish is left out rather than
guessed. The producers documented in reference/producer-subnets.md get their routes written out in full
(synapses, endpoints, auth, wire schemas). Output is deterministic: rebuilding from the same CSV gives
the same bytes, so a diff of seed.json shows exactly what changed in the facts.

    python scripts/build_ledger_seed.py [path/to/subnet-public-facts.csv] [--out path/to/seed.json]
"""

import argparse
import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import blake3
from pydantic import ValidationError

from ledger.entry import AuthKind, ProbeRecipe, Provenance, Route, SubnetEntry, SubnetStatus
from protocol.models import RouteKind

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = REPO_ROOT.parent / "shared" / "reference" / "subnet-public-facts.csv"
OUT = REPO_ROOT / "ledger" / "data" / "seed.json"

PUBLIC_FACTS = "public-facts-2026-08"
PRODUCER_FACTS = "producer-subnets-2026-08"

# Hosts the CSV lists that the subnet does not run: a market-data aggregator and a code host. A route
# there would send callers to someone else's API.
NOT_SUBNET_HOSTS = frozenset({"api.taomarketcap.com", "github.com"})
INACTIVE_STATUSES = frozenset({"inactive", "deprecated"})


class Curated(NamedTuple):
    capabilities: tuple[str, ...]
    description: str


# What each subnet does, from its CSV tags and name, its public repository, and producer-subnets.md.
# Left out, because the public facts give no capability in the vocabulary or contradict each other:
# 16 BitAds and 93 Bitcast (advertising), 65 TAO Private Network (VPN), 69 ain (press placement),
# 82 Compelle (debate strategies), 86, 99, 104, 109, 115, 119 (no stated purpose), 98 ForeverMoney
# (tagged finance, but its listed repository is a Minecraft agent benchmark), 100 Plaτform (generic
# challenge host), 103 Djinn (code is scaffolding), 110 Green Compute (its repository rewards holding
# TAO), 114 SOMA (context compression), 117 Glyph (text-compression benchmark).
CURATED: dict[int, Curated] = {
    0: Curated(
        ("chain_rpc",),
        "The root network of Subtensor; the chain's public finney entrypoints answer Substrate JSON-RPC.",
    ),
    1: Curated(
        ("code_generation", "optimization"),
        "Apex (Macrocosmos): competitions in which solvers submit code that a central orchestrator "
        "evaluates in sandboxes (energy arbitrage, text clustering, steering). Since v4 there is no "
        "query protocol: its outputs are leaderboard scores and winning solutions.",
    ),
    2: Curated(("verifiable_compute",), "DSperse (Inference Labs): verifiable inference with zkML proofs."),
    3: Curated(("model_training",), "Templar: decentralized pre-training of language models."),
    4: Curated(
        ("compute", "llm_inference", "verifiable_compute"),
        "Targon (Manifold): confidential-compute marketplace (Intel TDX / AMD SEV-SNP with NVIDIA CC) "
        "whose miners serve attested VMs; clients use Targon's OpenAI-compatible hosted inference.",
    ),
    5: Curated(
        ("model_training",),
        "Hone (Manifold): miners publish solver repositories that validators build in a GPU sandbox and "
        "score by exact match on hidden ARC-AGI-2 tasks. There is no query service: a miner's `GET /info` "
        "only names its repository.",
    ),
    6: Curated(("forecasting",), "Numinous: forecasting of real-world events."),
    7: Curated(("defi",), "Allways: decentralized swaps, with Bitcoin support."),
    8: Curated(
        ("financial_data", "forecasting"),
        "Vanta (Taoshi): miners submit trading signals scored on their real market performance.",
    ),
    9: Curated(
        ("model_training",), "IOTA (Macrocosmos): distributed pre-training of one model split across miners."
    ),
    10: Curated(("defi",), "Swap (TaoFi): liquidity pools and token swaps."),
    11: Curated(
        ("agents",),
        "TrajectoryRL: miners compete on agent policy packs scored on deterministic ClawBench scenarios "
        "(email triage, calendar conflicts, incident response).",
    ),
    12: Curated(("compute",), "Compute Horde: GPU compute for validators, run as jobs on miners' executors."),
    13: Curated(
        ("dataset", "social_data", "social_search"),
        "Data Universe (Macrocosmos): miners scrape and store X and Reddit posts, served by time bucket "
        "and label to validators; clients get live keyword scrapes through the hosted on-demand API "
        "(also offered over gRPC by the macrocosmos SDK).",
    ),
    14: Curated(("llm_inference",), "Cacheon: language-model inference."),
    15: Curated(("agents",), "ORO: AI agents for online commerce."),
    17: Curated(("media_generation",), "404-GEN: 3D asset generation from prompts."),
    18: Curated(("forecasting",), "Zeus: weather forecasting."),
    19: Curated(
        ("chain_rpc",),
        "Blockmachine (formerly Nineteen): a blockchain-RPC marketplace. A gateway routes JSON-RPC for TAO "
        "and EVM chains (ETH, BSC, Base, Polygon, Optimism, Arbitrum) to miner nodes; validators re-execute "
        "block-pinned calls, so those answers are exactly reproducible.",
    ),
    20: Curated(("financial_data",), "GroundLayer: capital-markets data."),
    21: Curated(
        ("forecasting",),
        "AdTAO: miners predict Google Ads campaign outcomes as P10/P50/P90 distributions, scored "
        "against measured results.",
    ),
    22: Curated(
        ("social_search", "web_search"),
        "Desearch: AI search over the web and X. Since Desearch 2.0 miners crawl instead of serving "
        "queries, so SN22 is reached through the hosted Desearch API.",
    ),
    23: Curated(
        ("security",),
        "Trishool: adversarial robustness of guard models; miners submit jailbreak prompts that "
        "validators run against an agent and judge.",
    ),
    24: Curated(
        ("model_training",), "Quasar (SILX): language-model training; miners publish model artifacts."
    ),
    25: Curated(
        ("compute", "science"), "Mainframe (Macrocosmos): decentralized compute for science workloads."
    ),
    26: Curated(("security",), "Perturb: adversarial robustness of computer-vision models."),
    27: Curated(("compute",), "NI Compute (Neural Internet): GPU compute."),
    28: Curated(("llm_inference", "verifiable_compute"), "gm: an LLM inference marketplace running in TEEs."),
    29: Curated(("model_training",), "Coldint: collaborative distributed training of models."),
    30: Curated(("financial_data",), "Endure Network: DeFi risk intelligence."),
    31: Curated(("retrieval",), "Recall: retrieval for RAG."),
    32: Curated(("media_analysis",), "It's AI: detection of LLM-generated text."),
    33: Curated(("dataset",), "ReadyAI: structured conversation data and annotation."),
    34: Curated(("media_analysis",), "BitMind: deepfake detection for images and video."),
    35: Curated(("defi",), "0xMarkets (Cartha): DeFi liquidity for on-chain markets."),
    36: Curated(
        ("media_generation",),
        "Leoma: king-of-the-hill competition on image/text-to-video models; validators run the weights.",
    ),
    37: Curated(
        ("security",), "Aurelius: AI alignment; miners surface model behaviour that breaks alignment."
    ),
    38: Curated(
        ("model_training",),
        "ChronoLLM: training of chronologically consistent LLMs that know nothing after their cutoff year.",
    ),
    39: Curated(("compute",), "Basilica (Covenant): GPU compute."),
    40: Curated(("model_training",), "Ralph: distributed training of language models."),
    41: Curated(("forecasting",), "Almanac: prediction markets."),
    42: Curated(
        ("social_data", "social_search"), "Gopher: real-time data, including X posts, scraped in TEEs."
    ),
    43: Curated(("optimization",), "Graphite: graph optimization problems such as the travelling salesman."),
    44: Curated(("media_analysis",), "Score: computer vision for sports video."),
    45: Curated(("financial_data",), "AlphaRidge.ai: market intelligence and sentiment analysis."),
    46: Curated(("forecasting",), "Zipcode (RESI): real-estate valuation models."),
    47: Curated(
        ("model_training",), "EvolAI: miners publish transformer and Mamba2 LLMs that validators evaluate."
    ),
    48: Curated(("compute", "science"), "Quantum Compute (qBitTensor Labs): quantum computing jobs."),
    49: Curated(("model_training",), "Nepher Robotics: tournaments for robot-control policies."),
    50: Curated(
        ("financial_data", "forecasting"), "Synth: probabilistic price-path forecasts for financial assets."
    ),
    51: Curated(("compute",), "lium.io (Datura): GPU rental."),
    52: Curated(("dataset",), "Dojo (Tensorplex): human-generated preference and annotation data."),
    53: Curated(("llm_inference", "verifiable_compute"), "engy: LLM serving with verified compute."),
    54: Curated(("dataset", "security"), "MIID (Yanez): synthetic identity data for compliance screening."),
    55: Curated(("dataset", "science"), "NIOME (Genomes.io): synthetic genomic data."),
    56: Curated(("model_training",), "Gradients: fine-tuning and training of models on demand."),
    57: Curated(("forecasting",), "Sparket: sports prediction markets."),
    58: Curated(
        ("llm_inference",),
        "Handshake58: a marketplace of AI service providers paid per request through DRAIN micropayments.",
    ),
    59: Curated(
        ("llm_inference",),
        "Babelbit: low-latency speech translation; the current challenge has miners predict the rest of "
        "an utterance as each word arrives.",
    ),
    60: Curated(("security",), "Bitsec: finding security vulnerabilities in code."),
    61: Curated(("security",), "RedTeam: cybersecurity challenges."),
    62: Curated(
        ("agents", "code_generation"),
        "Ridges: miners upload coding agents (`agent_main({problem_statement}) -> unified diff`) that "
        "validators run in sandboxes on software tasks. There is no query service; the platform's public "
        "read API lists agents and evaluations.",
    ),
    63: Curated(
        ("security",),
        "Enigma (qBitTensor Labs): funded challenges to break cryptographic systems, AI safeguards and "
        "treasury wallets.",
    ),
    64: Curated(
        ("compute", "llm_inference", "media_generation"),
        "Chutes: serverless AI compute. An OpenAI-compatible LLM API, image and embedding hosts, and any "
        "deployed chute at https://{slug}.chutes.ai.",
    ),
    66: Curated(("code_generation",), "ninja: software-engineering workflows."),
    67: Curated(
        ("agents",),
        "Harnyx: a deep-research harness; miners submit Python research agents that validators run in "
        "sandboxes against reference answers.",
    ),
    68: Curated(("science",), "NOVA (Metanova): drug discovery; miners search for candidate molecules."),
    70: Curated(
        ("dataset",), "NexisGen: miners produce captioned video-clip datasets that validators verify."
    ),
    71: Curated(("dataset",), "Leadpoet: sales lead generation."),
    72: Curated(("media_analysis",), "StreetVision (NATIX): computer vision on street imagery."),
    73: Curated(("defi",), "MetaHash: DeFi OTC trades and treasury."),
    74: Curated(("code_generation",), "Gittensor: rewards contributions to open-source repositories."),
    75: Curated(("storage",), "Hippius: decentralized storage."),
    76: Curated(
        ("security",),
        "Byzantium (Phylax): signed safety attestations for agent skills, MCP servers, packages and "
        "repositories, backed by proof that the analysis ran.",
    ),
    77: Curated(("defi",), "Liquidity: DeFi liquidity provision."),
    78: Curated(
        ("media_generation",),
        "Vocence: voice models (prompt-based text-to-speech first), deployed on Chutes and scored by "
        "validators.",
    ),
    79: Curated(
        ("financial_data", "model_training"),
        "MVTRX (τaos): agent-based trading simulation, distributed training of an order-book model, and "
        "an exchange for alpha tokens.",
    ),
    80: Curated(
        ("model_training",), "dogelayer (OpenRoboto): training of vision-language-action models for robots."
    ),
    81: Curated(("model_training",), "Grail (Covenant): decentralized RL post-training."),
    83: Curated(("optimization",), "CliqueAI: maximum-clique graph problems."),
    84: Curated(("optimization",), "ansuz (ChipForge): chip design."),
    85: Curated(("media_generation",), "Vidaio: video upscaling and compression."),
    87: Curated(("media_analysis",), "Luminar Network: video intelligence."),
    88: Curated(("financial_data",), "Investing: investment strategies published as data artifacts."),
    89: Curated(
        ("financial_data", "forecasting"),
        "InfiniteHash (InfiniteQuant): miners commit time-locked directional trade calls graded on market "
        "data.",
    ),
    90: Curated(("forecasting",), "DegenBrain: prediction-market outcomes and their verification."),
    91: Curated(
        ("dataset", "model_training"),
        "Bitstarter #1 (cascade): synthetic-data generators for time-series foundation models.",
    ),
    92: Curated(("llm_inference",), "Tensorclaw: inference."),
    94: Curated(
        ("model_training",),
        "BitSota: evolves machine-learning algorithms through competitive optimization (AutoML-Zero style).",
    ),
    95: Curated(("llm_inference",), "Actual: inference and a model registry."),
    96: Curated(("llm_inference",), "Verathos: language-model inference."),
    97: Curated(
        ("model_training",), "Albedo: king-of-the-hill distillation of coding models on SWE trajectories."
    ),
    101: Curated(("dataset",), "eni (Tag101): miners turn X posts into structured semantic tags."),
    102: Curated(("model_training",), "ConnitoAI: decentralized Mixture-of-Experts LLM training."),
    105: Curated(("storage",), "Beam: a bandwidth network that moves object data between storage endpoints."),
    106: Curated(("compute",), "Nodexo: GPU compute."),
    107: Curated(
        ("science",),
        "Minos: genomic variant calling; miners tune variant-caller configurations scored with hap.py.",
    ),
    108: Curated(("media_generation",), "TalkHead: talking-head video models, served as Docker images."),
    111: Curated(("social_data",), "oneoneone: user-generated content data."),
    112: Curated(("defi",), "Minotaur: intent execution; miners write the solving engine for swap intents."),
    113: Curated(("defi",), "TensorUSD: a stablecoin."),
    116: Curated(("defi",), "TaoLend: lending."),
    118: Curated(("retrieval",), "Ditto: memory for AI agents."),
    120: Curated(
        ("model_training",),
        "Affine: reinforcement learning for reasoning models. Miners' models were scored across "
        "environments through Chutes (Dec 2025 design); a later redesign trains one shared checkpoint "
        "from miners' rollouts and serves no queries.",
    ),
    121: Curated(
        ("agents",),
        "sundae_bar: agent-skill challenges (SKILL.md) scored by running a test agent and LLM judges.",
    ),
    122: Curated(("recommendation",), "Bitrecs: product recommendations for e-commerce."),
    123: Curated(
        ("financial_data", "forecasting"),
        "MANTIS: miners submit time-locked embeddings scored by how well they predict financial "
        "instruments' next-hour returns.",
    ),
    124: Curated(("model_training",), "Swarm: drone-flight policies evaluated in simulation."),
    125: Curated(("forecasting",), "8 Ball: prediction markets."),
    126: Curated(("security",), "Poker44: bot detection in online poker."),
    127: Curated(("financial_data",), "Astrid: trading strategies."),
    128: Curated(("compute",), "ByteLeap: compute."),
}


# --- Wire schemas restated from reference/producer-subnets.md -----------------------------------

_STRINGS = {"type": "array", "items": {"type": "string"}}

_DATA_LABEL = {
    "type": ["object", "null"],
    "properties": {"value": {"type": "string", "maxLength": 140, "description": "Lower-cased."}},
    "required": ["value"],
}

_BUCKET_ID = {
    "type": "object",
    "properties": {
        "time_bucket": {
            "type": "object",
            "properties": {
                "id": {"type": "integer", "minimum": 1, "description": "Hours since the Unix epoch."}
            },
            "required": ["id"],
        },
        "source": {
            "type": "integer",
            "minimum": 1,
            "maximum": 7,
            "description": "DataSource: 1 Reddit, 2 X; 3-7 carry no weight (YouTube was removed in 2026-01).",
        },
        "label": _DATA_LABEL,
    },
    "required": ["time_bucket", "source"],
}

_DATA_ENTITY = {
    "type": "object",
    "properties": {
        "uri": {"type": "string"},
        "datetime": {"type": "string", "format": "date-time", "description": "Obfuscated to the minute."},
        "source": {"type": "integer"},
        "label": _DATA_LABEL,
        "content": {"type": "string", "description": "Bytes of a JSON XContent or RedditContent document."},
        "content_size_bytes": {"type": "integer", "minimum": 0},
    },
    "required": ["uri", "datetime", "source", "content", "content_size_bytes"],
}

_SEARCH_RESULT = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "link": {"type": "string"},
        "snippet": {"type": "string"},
        "highlights": {},
        "published_date": {"type": ["string", "null"]},
        "author": {"type": ["string", "null"]},
        "text": {"type": ["string", "null"]},
    },
    "required": ["link"],
}
_SEARCH_RESULTS = {"type": "array", "items": _SEARCH_RESULT}

_COUNT = {"type": ["integer", "null"]}
_TWEET = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "text": {"type": "string"},
        "url": {"type": ["string", "null"]},
        "created_at": {"type": ["string", "null"]},
        "user": {
            "type": ["object", "null"],
            "properties": {"id": {"type": ["string", "null"]}, "username": {"type": ["string", "null"]}},
        },
        "like_count": _COUNT,
        "retweet_count": _COUNT,
        "reply_count": _COUNT,
        "quote_count": _COUNT,
        "view_count": _COUNT,
        "bookmark_count": _COUNT,
    },
    "required": ["id", "text"],
}

DESEARCH_TOOLS = ("web", "hackernews", "reddit", "wikipedia", "youtube", "twitter", "arxiv")

DESEARCH_SEARCH_REQUEST = {
    "type": "object",
    "properties": {
        "prompt": {"type": "string", "minLength": 1},
        "tools": {"type": "array", "items": {"enum": list(DESEARCH_TOOLS)}, "minItems": 1},
        "start_date": {"type": "string"},
        "end_date": {"type": "string"},
        "date_filter": {"type": "string"},
        "streaming": {"type": "boolean"},
        "result_type": {"enum": ["ONLY_LINKS", "LINKS_WITH_FINAL_SUMMARY"]},
        "system_message": {"type": "string"},
        "count": {"type": "integer", "minimum": 10, "maximum": 200},
    },
    "required": ["prompt", "tools"],
}

# One result list per requested tool, named like the subnet's stream chunks; none is always present.
DESEARCH_SEARCH_RESPONSE = {
    "type": "object",
    "properties": {
        "search": _SEARCH_RESULTS,
        "wikipedia_search": _SEARCH_RESULTS,
        "youtube_search": _SEARCH_RESULTS,
        "arxiv_search": _SEARCH_RESULTS,
        "reddit_search": _SEARCH_RESULTS,
        "hacker_news_search": _SEARCH_RESULTS,
        "tweets": {"type": "array", "items": _TWEET},
        "text": {"type": ["string", "null"]},
        "completion": {"type": ["string", "null"]},
        "miner_link_scores": {"type": ["object", "null"]},
    },
}

DATA_UNIVERSE_JOB_REQUEST = {
    "type": "object",
    "properties": {
        "job": {
            "type": "object",
            "properties": {
                "job": {
                    "type": "object",
                    "properties": {
                        "platform": {"enum": ["x", "reddit", "youtube"]},
                        "usernames": {**_STRINGS, "maxItems": 10},
                        "keywords": {**_STRINGS, "maxItems": 10},
                        "url": {"type": "string"},
                        "subreddit": {"type": "string", "pattern": "^r/"},
                        "channels": _STRINGS,
                    },
                    "required": ["platform"],
                },
                "start_date": {"type": "string"},
                "end_date": {"type": "string"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                "keyword_mode": {"enum": ["any", "all"], "default": "any"},
                "expire_at": {"type": "string"},
            },
            "required": ["job"],
        }
    },
    "required": ["job"],
}

DATA_UNIVERSE_JOB_RESPONSE = {
    "type": "object",
    "properties": {"job_id": {"type": "string", "format": "uuid"}},
    "required": ["job_id"],
}

OPENAI_CHAT_REQUEST = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "messages": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {"role": {"type": "string"}, "content": {}},
                "required": ["role"],
            },
        },
        "temperature": {"type": "number", "minimum": 0},
        "top_p": {"type": "number"},
        "max_tokens": {"type": "integer", "minimum": 1},
        "seed": {"type": "integer"},
        "stream": {"type": "boolean"},
        "tools": {"type": "array"},
        "tool_choice": {},
    },
    "required": ["model", "messages"],
}

# The non-streaming answer; with `stream: true` the same choices arrive as SSE deltas.
OPENAI_CHAT_RESPONSE = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string"},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "message": {
                        "type": "object",
                        "properties": {
                            "role": {"type": "string"},
                            "content": {"type": ["string", "null"]},
                            "tool_calls": {"type": ["array", "null"]},
                        },
                        "required": ["role"],
                    },
                    "finish_reason": {"type": ["string", "null"]},
                },
                "required": ["message"],
            },
        },
        "usage": {
            "type": ["object", "null"],
            "properties": {
                "prompt_tokens": {"type": "integer"},
                "completion_tokens": {"type": "integer"},
                "total_tokens": {"type": "integer"},
            },
        },
    },
    "required": ["choices"],
}

OPENAI_MODEL_LIST = {
    "type": "object",
    "properties": {
        "object": {"type": "string"},
        "data": {
            "type": "array",
            "items": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
        },
    },
    "required": ["data"],
}

JSON_RPC_REQUEST = {
    "type": "object",
    "properties": {
        "jsonrpc": {"const": "2.0"},
        "id": {"type": ["integer", "string"]},
        "method": {"type": "string"},
        "params": {"type": ["array", "object"]},
    },
    "required": ["jsonrpc", "method"],
}

JSON_RPC_RESPONSE = {
    "type": "object",
    "properties": {
        "jsonrpc": {"const": "2.0"},
        "id": {"type": ["integer", "string", "null"]},
        "result": {},
        "error": {
            "type": "object",
            "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {}},
            "required": ["code", "message"],
        },
    },
    "required": ["jsonrpc"],
}

_SN13_GATE = (
    "SN13 miners answer only hotkeys with a validator permit and stake >= 10,000 on SN13, and allow one "
    "request per synapse type per caller per hour (blacklisting beyond two). Protocol version 4."
)


def _sn13_routes() -> tuple[Route, ...]:
    return (
        Route(
            name="bucket",
            kind=RouteKind.DENDRITE,
            auth=AuthKind.VALIDATOR_PERMIT,
            capabilities=("social_data",),
            adapter="data_universe",
            synapse="GetDataEntityBucket",
            synapse_fields={
                "version": "Optional[int]",
                "data_entity_bucket_id": "Optional[DataEntityBucketId]",
                "data_entities": "List[DataEntity]",
            },
            request_schema={
                "type": "object",
                "properties": {"version": {"type": ["integer", "null"]}, "data_entity_bucket_id": _BUCKET_ID},
                "required": ["data_entity_bucket_id"],
            },
            response_schema={
                "type": "object",
                "properties": {"data_entities": {"type": "array", "items": _DATA_ENTITY}},
                "required": ["data_entities"],
            },
            timeout_s=140.0,
            notes=f"Validators pick the bucket from the miner's GetMinerIndex answer. {_SN13_GATE}",
        ),
        Route(
            name="index",
            kind=RouteKind.DENDRITE,
            auth=AuthKind.VALIDATOR_PERMIT,
            synapse="GetMinerIndex",
            synapse_fields={"version": "Optional[int]", "compressed_index_serialized": "Optional[str]"},
            request_schema={"type": "object", "properties": {"version": {"type": ["integer", "null"]}}},
            response_schema={
                "type": "object",
                "properties": {
                    "compressed_index_serialized": {
                        "type": ["string", "null"],
                        "description": "JSON of CompressedMinerIndex: sources -> [{label, time_bucket_ids, "
                        "sizes_bytes}], at most 350,000 buckets.",
                    }
                },
            },
            timeout_s=120.0,
            notes=f"Lists the buckets a miner holds; no data itself. {_SN13_GATE}",
        ),
        Route(
            name="contents",
            kind=RouteKind.DENDRITE,
            auth=AuthKind.VALIDATOR_PERMIT,
            capabilities=("social_data",),
            synapse="GetContentsByBuckets",
            synapse_fields={
                "version": "Optional[int]",
                "data_entity_bucket_ids": "Optional[List[DataEntityBucketId]]",
                "bucket_ids_to_contents": "List[Tuple[DataEntityBucketId, List[bytes]]]",
            },
            request_schema={
                "type": "object",
                "properties": {
                    "version": {"type": ["integer", "null"]},
                    "data_entity_bucket_ids": {"type": "array", "items": _BUCKET_ID, "maxItems": 100},
                },
                "required": ["data_entity_bucket_ids"],
            },
            response_schema={
                "type": "object",
                "properties": {
                    "bucket_ids_to_contents": {
                        "type": "array",
                        "items": {
                            "type": "array",
                            "prefixItems": [_BUCKET_ID, _STRINGS],
                            "minItems": 2,
                            "maxItems": 2,
                        },
                    }
                },
                "required": ["bucket_ids_to_contents"],
            },
            timeout_s=140.0,
            notes=(
                "Up to 100 buckets' raw contents in one call; validators may send 5 an hour. No timeout is "
                "documented for it, so the bucket timeout is used. No Orchestra adapter speaks it yet. "
                f"{_SN13_GATE}"
            ),
        ),
        Route(
            name="on-demand",
            kind=RouteKind.HTTP,
            endpoint="https://data-universe-api.api.macrocosmos.ai",
            auth=AuthKind.API_KEY,
            capabilities=("social_search", "social_data"),
            adapter="data_universe_api",
            request_schema=DATA_UNIVERSE_JOB_REQUEST,
            response_schema=DATA_UNIVERSE_JOB_RESPONSE,
            timeout_s=120.0,
            notes=(
                "POST /on-demand/constellation/jobs with header X-API-Key answers 201 {job_id}; "
                "GET /on-demand/constellation/jobs/{job_id} then lists submissions [{job_id, "
                "miner_hotkey, miner_vtrust, s3_path, submitted_at}] whose data miners upload to S3. A job "
                "expires 2 minutes after creation by default (30 s minimum), which the timeout covers. "
                "Per platform: X takes "
                "usernames, keywords, url; Reddit subreddit (r/...), usernames, keywords; YouTube channels. "
                "Replaces the OnDemandRequest synapse, detached from miner axons on 2025-12-04."
            ),
        ),
    )


def _sn22_routes() -> tuple[Route, ...]:
    return (
        Route(
            name="desearch-api",
            kind=RouteKind.HTTP,
            endpoint="https://api.desearch.ai",
            auth=AuthKind.API_KEY,
            capabilities=("social_search", "web_search"),
            adapter="desearch",
            request_schema=DESEARCH_SEARCH_REQUEST,
            response_schema=DESEARCH_SEARCH_RESPONSE,
            timeout_s=20.0,
            probe=ProbeRecipe(
                method="POST",
                path="/desearch/ai/search",
                body={
                    "prompt": "Bittensor subnets",
                    "tools": ["web"],
                    "count": 10,
                    "streaming": False,
                    "result_type": "ONLY_LINKS",
                },
            ),
            notes=(
                "Schemas describe POST /desearch/ai/search. The key goes in `Authorization` with no Bearer "
                "prefix. Timeout: the subnet's balanced-mode budget (15 s) plus 5 s. Other calls on this "
                "host: POST /desearch/ai/search/links/web and /links/twitter; GET /twitter, /twitter/urls, "
                "/twitter/post, /twitter/post/user, /twitter/replies, /twitter/trends, /web (SERP), "
                "/web/crawl."
            ),
        ),
    )


def _sn1_routes() -> tuple[Route, ...]:
    return (
        Route(
            name="orchestrator",
            kind=RouteKind.SIGNED_HTTP,
            endpoint="https://apex.api.macrocosmos.ai",
            auth=AuthKind.EPISTULA,
            probe=ProbeRecipe(method="GET", path="/healthcheck"),
            notes=(
                "The competition orchestrator. Validators read GET /validator/global_miner_scores with "
                "Epistula headers: Epistula-Timestamp (ms), Epistula-Signed-By, Epistula-Request-Signature "
                "= 0x + sign(sha256(body).timestamp.signed_for), X-Spec-Version, X-Request-Id. It serves "
                "scores, not inference."
            ),
        ),
    )


def _sn4_routes() -> tuple[Route, ...]:
    return (
        Route(
            name="inference",
            kind=RouteKind.OPENAI,
            endpoint="https://api.targon.com/v1",
            auth=AuthKind.BEARER,
            capabilities=("llm_inference",),
            adapter="targon",
            request_schema=OPENAI_CHAT_REQUEST,
            response_schema=OPENAI_CHAT_RESPONSE,
            timeout_s=60.0,
            notes=(
                "Targon's hosted OpenAI-compatible API (POST /chat/completions); keys carry the sn4_ "
                "prefix, as seen in third-party client code. No timeout is documented: 60 s is a client "
                "choice. Miners themselves answer only Epistula-signed GET /cvm from validators."
            ),
        ),
    )


def _sn19_routes() -> tuple[Route, ...]:
    return (
        Route(
            name="eth-rpc",
            kind=RouteKind.HTTP,
            endpoint="https://rpc-eth.blockmachine.io",
            capabilities=("chain_rpc",),
            adapter="blockmachine",
            request_schema=JSON_RPC_REQUEST,
            response_schema=JSON_RPC_RESPONSE,
            timeout_s=10.0,
            probe=ProbeRecipe(
                method="POST", body={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
            ),
            notes=(
                "Keyless public Ethereum JSON-RPC of the Blockmachine gateway, which routes calls to SN19 "
                "miner nodes. producer-subnets.md leaves the customer gateway URL undocumented; this host is "
                "used in several public third-party repositories, which cite blockmachine.io/public-rpc-"
                "endpoints for its limit: 60 RU per IP per minute, no archive access without a key. Pin "
                "calls to a block for reproducible answers. Timeout: the reference client's 10 s."
            ),
        ),
    )


def _sn62_routes() -> tuple[Route, ...]:
    return (
        Route(
            name="platform",
            kind=RouteKind.HTTP,
            endpoint="https://platform-v2.ridges.ai",
            probe=ProbeRecipe(method="GET", path="/retrieval/network-statistics"),
            notes=(
                "Public read API, no auth, under /retrieval: /top-agents, /agent-by-id, /agent-by-hotkey, "
                "/all-agents-by-hotkey, /agents-by-coldkey, /evaluations-for-agent, /top-scores-over-time, "
                "/network-statistics, /agent-code?agent_id= (403 for agents in screening and current top "
                "agents). A PublicAgent has agent_id, miner_hotkey, name, version_num, status, created_at, "
                "emission, reward_weight, competition_state."
            ),
        ),
    )


def _sn64_routes() -> tuple[Route, ...]:
    return (
        Route(
            name="llm",
            kind=RouteKind.OPENAI,
            endpoint="https://llm.chutes.ai/v1",
            auth=AuthKind.BEARER,
            capabilities=("llm_inference",),
            adapter="chutes",
            request_schema=OPENAI_CHAT_REQUEST,
            response_schema=OPENAI_CHAT_RESPONSE,
            timeout_s=60.0,
            notes=(
                "POST /chat/completions and /completions with `Authorization: Bearer cpk_...` or a JWT. "
                "`X-Enable-Thinking: true` or a `:THINKING` model suffix turns on reasoning; tool_choice "
                "defaults to auto when tools are given. Chutes also accepts hotkey-signed requests "
                "(X-Chutes-Hotkey, X-Chutes-Signature, X-Chutes-Nonce within 600 s), which no AuthKind "
                "names yet. seed and temperature 0 reduce variance but do not make answers bit-exact. "
                "No timeout is documented: 60 s is a client choice."
            ),
        ),
        Route(
            name="llm-models",
            kind=RouteKind.HTTP,
            endpoint="https://llm.chutes.ai/v1",
            response_schema=OPENAI_MODEL_LIST,
            probe=ProbeRecipe(method="GET", path="/models"),
            notes="GET /models needs no key: a free liveness check of the LLM gateway and its model list.",
        ),
        Route(
            name="image",
            kind=RouteKind.HTTP,
            endpoint="https://image.chutes.ai",
            auth=AuthKind.BEARER,
            capabilities=("media_generation",),
            notes="Image generation host; its request shapes are not catalogued yet.",
        ),
        Route(
            name="embed",
            kind=RouteKind.HTTP,
            endpoint="https://embed.chutes.ai",
            auth=AuthKind.BEARER,
            notes="Embeddings host; its request shapes are not catalogued yet.",
        ),
    )


def _sn120_routes() -> tuple[Route, ...]:
    return (
        Route(
            name="read-api",
            kind=RouteKind.HTTP,
            endpoint="https://api.affine.io/api/v1",
            probe=ProbeRecipe(method="GET", path="/scores/latest"),
            notes=(
                "Public reads: /miners/uid/{uid}, /scores/latest, /scores/uid/{uid}, /scores/weights/latest, "
                "/samples/{hotkey}/{env}/{task_id}, /config, /logs/miner/{hotkey}. Miner models themselves "
                "ran as Chutes (https://{slug}.chutes.ai/v1) at temperature 0 with seed = "
                "sha256('{env}:{task_id}')[:8] mod 2^32."
            ),
        ),
    )


# Producers researched in reference/producer-subnets.md; SN5 Hone has no route a client can call.
PRODUCER_ROUTES: dict[int, tuple[Route, ...]] = {
    1: _sn1_routes(),
    4: _sn4_routes(),
    5: (),
    13: _sn13_routes(),
    19: _sn19_routes(),
    22: _sn22_routes(),
    62: _sn62_routes(),
    64: _sn64_routes(),
    120: _sn120_routes(),
}


# --- Building entries ----------------------------------------------------------------------------


def evidence_digest(row: dict[str, str]) -> str:
    """blake3 of the canonical JSON of the CSV row the entry was built from."""
    canonical = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(blake3.blake3(canonical.encode("utf-8")).hexdigest())


def _split(cell: str) -> list[str]:
    return [part.strip() for part in cell.split(";") if part.strip()]


def _links(row: dict[str, str]) -> dict[str, str]:
    links: dict[str, str] = {}
    if row["website"]:
        links["website"] = row["website"]
    if row["source_repo"]:
        links["source_repo"] = row["source_repo"]
    for url in _split(row["openapi_or_sdk"]):
        key = _link_kind(url)
        if key is not None:
            links.setdefault(key, url)
    return links


def _link_kind(url: str) -> str | None:
    """Which link a URL from `openapi_or_sdk` is; None for endpoints (SSE, RPC, installers)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return None
    path = parts.path.lower()
    last = path.rsplit("/", 1)[-1]
    if ("openapi" in path or "swagger" in path) and (
        last.endswith((".json", ".yaml", ".yml")) or last == "swagger-json"
    ):
        return "openapi"
    if parts.hostname in ("pypi.org", "github.com"):
        return "sdk"
    if last in ("docs", "swagger") or "api-docs" in path:
        return "docs"
    return None


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _host_routes(row: dict[str, str], covered: set[str]) -> list[Route]:
    """One pointer route per public API host the subnet runs, for hosts no documented route covers."""
    endpoints = int(row["api_endpoints"] or 0)
    keyed = int(row["auth_required_endpoints"] or 0)
    auth = AuthKind.API_KEY if 0 < keyed == endpoints else AuthKind.NONE
    hosts = [h for h in _split(row["api_hosts"]) if h not in NOT_SUBNET_HOSTS and h not in covered]
    notes = (
        f"Public API host. Across its hosts the subnet exposes {_plural(endpoints, 'endpoint')}, "
        f"{keyed} behind a key; their calls and schemas are not catalogued yet."
    )
    return [
        Route(
            name="api" if index == 0 else f"api-{index + 1}",
            kind=RouteKind.HTTP,
            endpoint=f"https://{host}",
            auth=auth,
            notes=notes,
        )
        for index, host in enumerate(hosts)
    ]


def build_entry(row: dict[str, str]) -> SubnetEntry:
    netuid = int(row["netuid"])
    curated = CURATED[netuid]
    documented = PRODUCER_ROUTES.get(netuid, ())
    covered = {urlsplit(r.endpoint).hostname or "" for r in documented if r.endpoint is not None}
    status = (
        SubnetStatus.DEPRECATED if row["status"].strip().lower() in INACTIVE_STATUSES else SubnetStatus.ACTIVE
    )
    return SubnetEntry(
        netuid=netuid,
        name=row["name"],
        description=curated.description,
        owner=None,
        links=_links(row),
        tags=tuple(_split(row["tags"])),
        capabilities=curated.capabilities,
        routes=(*documented, *_host_routes(row, covered)),
        status=status,
        provenance=Provenance(
            source=PRODUCER_FACTS if netuid in PRODUCER_ROUTES else PUBLIC_FACTS,
            evidence_digest=evidence_digest(row),
        ),
    )


def read_rows(path: Path) -> dict[int, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = {int(row["netuid"]): dict(row) for row in csv.DictReader(handle)}
    missing = sorted(set(CURATED) - set(rows))
    if missing:
        raise ValueError(f"{path} has no rows for curated netuids {missing}")
    return rows


def build(path: Path) -> list[dict[str, Any]]:
    """Every curated subnet as validated JSON, sorted by netuid."""
    rows = read_rows(path)
    entries = []
    for netuid in sorted(CURATED):
        try:
            dumped = build_entry(rows[netuid]).model_dump(mode="json")
            # Validate the JSON form too: it is what the seed loader reads back.
            SubnetEntry.model_validate(dumped)
        except ValidationError as exc:
            raise ValueError(f"subnet {netuid} does not form a valid Ledger entry: {exc}") from None
        entries.append(dumped)
    return entries


def render(entries: list[dict[str, Any]]) -> str:
    return json.dumps(entries, indent=1, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV, help="subnet-public-facts.csv")
    parser.add_argument("--out", type=Path, default=OUT, help="where to write seed.json")
    args = parser.parse_args(argv)
    try:
        entries = build(args.csv)
    except OSError as exc:
        parser.error(f"cannot read {args.csv}: {exc}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(entries), encoding="utf-8")
    detailed = sum(1 for e in entries if e["provenance"]["source"] == PRODUCER_FACTS)
    print(f"wrote {len(entries)} subnets ({detailed} with researched producer facts) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
