"""Audio engine benchmark: render times, warm response, bytes per minute, cue-onset error.

Run: python bench/audio.py [--json out.json]
Prints figures and ratios against baselines measured in the same run; asserts nothing.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.audio.encode import decode  # noqa: E402
from app.audio.onsets import detect_onsets  # noqa: E402
from app.config import Settings  # noqa: E402
from app.main import create_app  # noqa: E402

TARGETS = {"cold_20min_s": 5.0, "warm_ms": 20.0, "aac_20min_kb": 600.0, "onset_ms": 20.0}
QUIET_AFTER_BELL_S = 1.0


def timed(client: TestClient, url: str, **params: Any) -> tuple[float, dict]:
    started = time.perf_counter()
    response = client.get(url, params=params)
    took = time.perf_counter() - started
    response.raise_for_status()
    return took, response.json()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def onset_errors(client: TestClient, body: dict, audio: dict, tmp: Path) -> list[float]:
    path = tmp / audio["url"].rsplit("/", 1)[1]
    path.write_bytes(client.get(audio["url"]).content)
    samples, rate = decode(path)
    onsets = detect_onsets(samples, rate)
    bells = [c for c in body["cues"] if c["kind"] == "bell"]
    errors = []
    for cue in body["cues"]:
        if cue["kind"] == "voice" and any(
            b["at_s"] < cue["at_s"] < b["end_s"] + QUIET_AFTER_BELL_S for b in bells
        ):
            continue  # starts over a ringing bell: no quiet before it to detect an onset
        errors.append(min(abs(t - cue["at_s"]) for t in onsets) * 1000)
    return errors


def measure(requests: int = 300) -> dict[str, float]:
    """Every figure of the audio engine, from a cold start in a temp data dir."""
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        settings = Settings(
            environment="test", data_dir=tmp / "data", SPEECH_CACHE_DIR=tmp / "speech"
        )
        with TestClient(create_app(settings)) as client:
            url = "/api/routines/classic/session"
            cold, body = timed(client, url, minutes=20, cues="guided", prep=30)
            known, _ = timed(client, url, minutes=19, cues="guided", prep=30)
            results["cold_20min_s"] = cold
            results["cold_new_length_s"] = known
            results["track_s"] = body["duration_s"]
            results["cold_realtime_factor"] = cold / body["duration_s"]

            warm = [
                timed(client, url, minutes=20, cues="guided", prep=30)[0] * 1000
                for _ in range(requests)
            ]
            baseline = [timed(client, "/api/routines")[0] * 1000 for _ in range(requests)]
            results["warm_ms_p50"] = statistics.median(warm)
            results["warm_ms_p99"] = percentile(warm, 0.99)
            results["baseline_routines_ms_p50"] = statistics.median(baseline)
            results["warm_vs_baseline"] = (
                results["warm_ms_p50"] / results["baseline_routines_ms_p50"]
            )

            minutes = body["duration_s"] / 60
            for audio in body["audio"]:
                kind = audio["url"].rsplit(".", 1)[1]
                results[f"{kind}_kb_per_min"] = audio["bytes"] / 1000 / minutes
                results[f"{kind}_20min_kb"] = audio["bytes"] / 1000
                errors = onset_errors(client, body, audio, tmp)
                results[f"{kind}_onset_ms_median"] = statistics.median(errors)
                results[f"{kind}_onset_ms_max"] = max(errors)
    return results


def run(quick: bool = False, requests: int | None = None) -> dict:
    """The figures for bench/run_all.py, each with its same-run baseline where there is one."""
    from bench.common import Figure

    r = measure(requests or (30 if quick else 300))
    figures = [
        Figure("audio", "cold render, 20-min guided session", r["cold_20min_s"], "s",
               r["track_s"], "track length", goal=f"< {TARGETS['cold_20min_s']:.0f} s",
               met=r["cold_20min_s"] < TARGETS["cold_20min_s"]),
        Figure("audio", "render of a new length (speech cached)", r["cold_new_length_s"], "s",
               r["track_s"], "track length"),
        Figure("audio", "warm session script p50", r["warm_ms_p50"], "ms",
               r["baseline_routines_ms_p50"], "GET /api/routines",
               goal=f"< {TARGETS['warm_ms']:.0f} ms", met=r["warm_ms_p50"] < TARGETS["warm_ms"]),
    ]
    for kind in ("m4a", "webm"):
        if f"{kind}_kb_per_min" not in r:
            continue
        figures.append(Figure("audio", f"{kind} KB per minute", r[f"{kind}_kb_per_min"], "KB"))
        figures.append(Figure(
            "audio", f"{kind} cue-onset error (max)", r[f"{kind}_onset_ms_max"], "ms",
            goal=f"< {TARGETS['onset_ms']:.0f} ms",
            met=r[f"{kind}_onset_ms_max"] < TARGETS["onset_ms"],
            extra={"median_ms": r[f"{kind}_onset_ms_median"]}))
    if "m4a_20min_kb" in r:
        figures.append(Figure("audio", "m4a 20-min track", r["m4a_20min_kb"], "KB",
                              goal=f"< {TARGETS['aac_20min_kb']:.0f} KB",
                              met=r["m4a_20min_kb"] < TARGETS["aac_20min_kb"]))
    return {"figures": figures, "skipped": {}, "details": r}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    results = measure(args.requests)
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value:10.3f}")
    print()
    print(
        f"targets: cold 20-min render < {TARGETS['cold_20min_s']} s, warm < "
        f"{TARGETS['warm_ms']} ms, 20-min AAC < {TARGETS['aac_20min_kb']} KB, "
        f"onsets within {TARGETS['onset_ms']} ms"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
