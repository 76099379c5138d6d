"""`orchestra localnet`, as `make localnet` runs it."""

import json

import pytest

from orchestra.cli import main
from orchestra.devnet.localnet import DEMO_SCHEMA, run_localnet
from orchestra.schema import compile_schema


async def test_localnet_runs_the_demo_job_and_sets_weights() -> None:
    report = await run_localnet(steps=2, seed=3)
    assert report.ok, report.error
    job = report.job
    assert job["valid"] and compile_schema(DEMO_SCHEMA).is_valid(job["result"])
    assert job["receipts"] == job["receipts_verified"] > 0
    assert len(job["proof_root"]) == 64
    assert [m.uid for m in report.miners] == [1, 2]
    assert all(m.score > 0 and m.weight > 0 for m in report.miners)
    assert sum(m.weight for m in report.miners) == pytest.approx(1.0, abs=1e-3)
    assert report.weights_set
    assert len(report.step_scores) == 2


def test_localnet_json_output_has_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["localnet", "--json", "--steps", "1", "--seed", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"job", "miners", "weights_set"}
    assert set(out["job"]) == {"valid", "result", "receipts", "receipts_verified", "proof_root", "latency_ms"}
    assert all(set(m) == {"uid", "hotkey", "kind", "score", "weight"} for m in out["miners"])
    assert {m["kind"] for m in out["miners"]} == {"honest"}
    assert out["weights_set"] is True and out["job"]["valid"] is True


def test_localnet_prints_a_readable_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["localnet", "--steps", "1"]) == 0
    out = capsys.readouterr().out
    assert "Demo job" in out and "Receipts:" in out and "verified" in out
    assert "weights read back from the chain" in out and "localnet OK" in out


def test_negative_steps_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["localnet", "--steps", "-1"])
    assert caught.value.code == 2
    assert "--steps must be 0 or more" in capsys.readouterr().err


def test_a_bad_faults_spec_is_refused_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["localnet", "--faults", "chutes=melt"])
    assert exited.value.code == 2 and "unknown fault 'melt'" in capsys.readouterr().err


def test_localnet_counts_valid_jobs_under_faults(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["localnet", "--json", "--steps", "1", "--seed", "2", "--jobs", "12", "--faults", "desearch=5xx:0.5"]
    )
    out = json.loads(capsys.readouterr().out)
    reliability = out["reliability"]
    assert code == 0 and reliability["jobs"] == 12 and reliability["invalid"] == 0
    assert reliability["valid"] + reliability["failed"] == 12 and reliability["valid"] >= 11
    assert reliability["faults_drawn"]["desearch"].get("5xx", 0) > 0
