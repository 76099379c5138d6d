#!/usr/bin/env python
"""Regenerate orchestra/devnet/data/corpus.json, the bundled data of the emulated producers.

The corpus is synthetic: the companies, prices and posts are invented for local testing and say so.
Output is deterministic (seeded), so the devnet, its tests and their expected values stay stable.

    python scripts/build_devnet_corpus.py
"""

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "orchestra" / "devnet" / "data" / "corpus.json"

TOPICS: dict[str, dict[str, Any]] = {
    "gpu_cloud": {
        "hashtags": ["#gpucloud", "#h100"],
        "subreddit": "r/gpucloud",
        "start": dt.datetime(2026, 10, 14, 9, 0, tzinfo=dt.timezone.utc),
        "unit": "/hr",
        "comparison_title": "H100 cloud price comparison, autumn 2026",
        "companies": {
            "NimbusGPU": {
                "domain": "nimbusgpu.example",
                "prices": {"H100": "2.49", "A100": "1.29"},
                "strengths": [
                    "instances boot in under a minute",
                    "per-second billing",
                    "a clean API and CLI",
                ],
                "weaknesses": ["only two US regions", "no InfiniBand clusters"],
            },
            "CoreForge Cloud": {
                "domain": "coreforge.example",
                "prices": {"H100": "2.89", "A100": "1.59"},
                "strengths": [
                    "enterprise SLAs with 99.95% uptime",
                    "InfiniBand clusters up to 512 GPUs",
                    "SOC 2 compliance",
                ],
                "weaknesses": ["expensive egress at $0.09/GB", "a one-month minimum on reserved nodes"],
            },
            "VoltStack": {
                "domain": "voltstack.example",
                "prices": {"H100": "1.99", "A100": "1.09"},
                "strengths": [
                    "the cheapest spot capacity",
                    "large H100 availability",
                    "simple hourly pricing",
                ],
                "weaknesses": ["frequent spot preemptions", "slow support tickets"],
            },
            "Lumen Compute": {
                "domain": "lumencompute.example",
                "prices": {"H100": "2.25", "A100": "1.19"},
                "strengths": [
                    "EU data centres with GDPR guarantees",
                    "responsive support",
                    "green energy sourcing",
                ],
                "weaknesses": ["waitlists for H100 capacity", "fewer managed services"],
            },
        },
    },
    "llm_api": {
        "hashtags": ["#llmapi", "#inference"],
        "subreddit": "r/llmdev",
        "start": dt.datetime(2026, 10, 28, 15, 0, tzinfo=dt.timezone.utc),
        "unit": " per million tokens",
        "comparison_title": "LLM inference API pricing compared",
        "companies": {
            "Quillmind": {
                "domain": "quillmind.example",
                "prices": {"input": "0.60", "output": "2.40"},
                "strengths": ["strong JSON mode", "128k context windows", "stable latency"],
                "weaknesses": ["strict rate limits on the free tier", "no fine-tuning"],
            },
            "Parallax AI": {
                "domain": "parallax.example",
                "prices": {"input": "0.45", "output": "1.80"},
                "strengths": [
                    "the fastest time to first token",
                    "open-weight models",
                    "generous batch discounts",
                ],
                "weaknesses": ["occasional 5xx errors at peak", "sparse documentation"],
            },
            "Sable Inference": {
                "domain": "sable.example",
                "prices": {"input": "0.80", "output": "3.20"},
                "strengths": [
                    "private deployments",
                    "audited data retention policies",
                    "a dedicated support engineer",
                ],
                "weaknesses": ["the highest list prices", "slow onboarding"],
            },
            "Kitewing": {
                "domain": "kitewing.example",
                "prices": {"input": "0.35", "output": "1.40"},
                "strengths": [
                    "the lowest per-token prices",
                    "an OpenAI-compatible endpoint",
                    "good streaming support",
                ],
                "weaknesses": ["smaller context windows", "no SLA"],
            },
        },
    },
    "vector_db": {
        "hashtags": ["#vectordb", "#rag"],
        "subreddit": "r/vectordatabases",
        "start": dt.datetime(2026, 11, 9, 11, 0, tzinfo=dt.timezone.utc),
        "unit": " per GB-month",
        "comparison_title": "Managed vector database pricing roundup",
        "companies": {
            "Vectrix": {
                "domain": "vectrix.example",
                "prices": {"storage": "0.33", "queries": "4.00"},
                "strengths": [
                    "hybrid keyword and vector search",
                    "serverless scaling",
                    "a mature Python SDK",
                ],
                "weaknesses": ["cold starts after idle periods", "limited metadata filters"],
            },
            "Helixbase": {
                "domain": "helixbase.example",
                "prices": {"storage": "0.25", "queries": "2.00"},
                "strengths": ["low storage cost", "fast bulk imports", "multi-tenant namespaces"],
                "weaknesses": ["a small community", "no on-premise option"],
            },
            "Strata Vector": {
                "domain": "stratavector.example",
                "prices": {"storage": "0.40", "queries": "3.50"},
                "strengths": ["strong consistency guarantees", "built-in reranking", "enterprise SSO"],
                "weaknesses": ["the highest storage price", "a complex pricing page"],
            },
            "Orbitale DB": {
                "domain": "orbitale.example",
                "prices": {"storage": "0.28", "queries": "2.50"},
                "strengths": ["open-source core", "GPU-accelerated indexing", "a free self-hosted tier"],
                "weaknesses": ["manual shard rebalancing", "young managed service"],
            },
        },
    },
}

USERS = [
    "mlops_marta",
    "gpu_goblin",
    "tensor_tom",
    "infra_ines",
    "rag_ravi",
    "latency_lea",
    "batchsize_ben",
    "quant_quinn",
    "cuda_carla",
    "vec_victor",
    "token_tara",
    "devnet_dana",
]


def price_phrase(topic: dict[str, Any], label: str, price: str) -> str:
    if topic["unit"] == "/hr":
        return f"{label} at ${price}/hr"
    if topic["unit"] == " per million tokens":
        return f"${price} per million {label} tokens"
    if label == "storage":
        return f"${price} per GB-month for storage"
    return f"${price} per million queries"


def build() -> dict[str, Any]:
    rng = random.Random(13)
    web: list[dict[str, Any]] = []
    x_posts: list[dict[str, Any]] = []
    reddit: list[dict[str, Any]] = []
    tweet_id = 1_850_000_000_000_000_000
    for topic_name, topic in TOPICS.items():
        companies = topic["companies"]
        hour = 0
        for name, facts in companies.items():
            labels = list(facts["prices"])
            pricing = " and ".join(price_phrase(topic, label, facts["prices"][label]) for label in labels)
            s1, s2, s3 = facts["strengths"]
            w1, w2 = facts["weaknesses"]
            published = (topic["start"] - dt.timedelta(days=rng.randint(3, 20))).date().isoformat()
            web += [
                {
                    "title": f"{name} pricing",
                    "link": f"https://{facts['domain']}/pricing",
                    "snippet": f"{name} lists {pricing}, billed per second with no commitment.",
                    "published": published,
                    "topic": topic_name,
                },
                {
                    "title": f"{name} review: what we liked and what we did not",
                    "link": f"https://reviews.devnet.example/{facts['domain'].split('.')[0]}",
                    "snippet": f"{name} stands out for {s1} and {s2}. Users also praise {s3}. "
                    f"The main drawbacks are {w1} and {w2}.",
                    "published": published,
                    "topic": topic_name,
                },
            ]
            for text in [
                f"Tried {name} this week: {s1}, and {pricing} is fair.",
                f"{name} is great for {s2}, but watch out for {w1}.",
                f"Our team moved to {name} because of {s3}. Only complaint: {w2}.",
            ]:
                user = USERS[rng.randrange(len(USERS))]
                tweet_id += rng.randint(1_000, 9_000)
                moment = topic["start"] + dt.timedelta(hours=hour % 3, minutes=rng.randint(0, 59))
                hour += 1
                x_posts.append(
                    {
                        "username": user,
                        "user_display_name": user.replace("_", " ").title(),
                        "text": f"{text} {' '.join(topic['hashtags'])}",
                        "url": f"https://x.com/{user}/status/{tweet_id}",
                        "timestamp": moment.isoformat(),
                        "tweet_hashtags": list(topic["hashtags"]),
                        "tweet_id": str(tweet_id),
                        "is_reply": False,
                        "is_quote": False,
                        "like_count": rng.randint(2, 400),
                        "retweet_count": rng.randint(0, 60),
                        "reply_count": rng.randint(0, 30),
                        "quote_count": rng.randint(0, 8),
                        "view_count": rng.randint(300, 40_000),
                        "topic": topic_name,
                    }
                )
            post_time = topic["start"] + dt.timedelta(hours=rng.randint(0, 2), minutes=rng.randint(0, 59))
            reddit.append(
                {
                    "id": f"t3_{rng.getrandbits(32):08x}",
                    "url": f"https://www.reddit.com/{topic['subreddit']}/comments/{rng.getrandbits(24):06x}/",
                    "username": USERS[rng.randrange(len(USERS))],
                    "communityName": topic["subreddit"],
                    "title": f"Experiences with {name}?",
                    "body": f"We have used {name} for three months. Pricing: {pricing}. "
                    f"The good: {s1} and {s3}. The bad: {w1}.",
                    "createdAt": post_time.isoformat(),
                    "dataType": "post",
                    "topic": topic_name,
                }
            )
        first_label = next(iter(next(iter(companies.values()))["prices"]))
        ranked = sorted(companies.items(), key=lambda item: float(item[1]["prices"][first_label]))
        listing = ", ".join(f"{name} ${facts['prices'][first_label]}" for name, facts in ranked)
        web.append(
            {
                "title": topic["comparison_title"],
                "link": f"https://compare.devnet.example/{topic_name}",
                "snippet": f"Current {first_label} list prices ({topic['unit'].strip()}): {listing}.",
                "published": topic["start"].date().isoformat(),
                "topic": topic_name,
            }
        )
    return {
        "notice": (
            "Synthetic data for the Orchestra devnet's emulated producers. Every company, price, person and "
            "post here is invented for local testing; none of it is market data."
        ),
        "generated_by": "scripts/build_devnet_corpus.py",
        "web": web,
        "x": x_posts,
        "reddit": reddit,
    }


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
