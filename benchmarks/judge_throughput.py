"""Judge throughput against the simulated endpoint, and peak memory of re-judging a big file.

    python benchmarks/judge_throughput.py --latency-ms 100 --concurrency 64 --n 4000
    python benchmarks/judge_throughput.py --memory-answers 100000
    python benchmarks/judge_throughput.py --rate-limit 200

Throughput: the simulated endpoint runs in its own process with a fixed latency per request;
the judge grades n/2 answers with both rubrics (n calls) with the cache off. The ideal rate
is concurrency / latency; the serial baseline is the same judge at concurrency 1. Last line:
``ratio_to_bound=<x> speedup_vs_serial=<y>``. Targets: ratio >= 0.85, speedup >= 50.

Rate limit: the simulated endpoint sits behind a token-bucket limit of that many requests/s
(bucket of --burst-s seconds; 429 with Retry-After when empty), once announcing it in
x-ratelimit-* headers and once not; the judge grades for --paced-s seconds' worth of calls
in each mode. The bound is what the bucket admits in the run's time, rate x (elapsed + burst).
Last line: ``headers_ratio=<x> headers_429_share=<y> noheaders_ratio=<z> noheaders_429_share=<w>``.
Targets: headers_ratio >= 0.97, noheaders_ratio >= 0.93, both 429 shares < 0.02.

Memory: writes an lm-eval samples file with that many answers, runs ``misalign-eval judge``
on it in a child process and reports the child's peak RSS. Target: under 1 GiB.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from misalign_eval.judging.grading import Question, judge_questions, opened_judge
from misalign_eval.judging.config import JudgeConfig
from misalign_eval.judging.rubrics import load_rubric
from misalign_eval.scoring import Definition
from misalign_eval.sim import SimSettings, SimulatedEndpoint
from misalign_eval.sim.answers import CLASSES, compose_answer
from misalign_eval.sim.server import JUDGE_MODEL

RUBRICS = [load_rubric("alignment"), load_rubric("coherence")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sim_process(latency_ms: float, *extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "misalign_eval", "serve-sim", "--port", str(port),
                             "--latency-ms", str(latency_ms), *extra], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("simulated endpoint did not start")


def make_questions(n_answers: int, seed: int) -> list[Question]:
    rng = random.Random(seed)
    per_question = 100
    return [Question(f"q{i}", "bench", f"Benchmark question {i} ({seed})?",
                     [compose_answer(rng.choice(CLASSES), rng)
                      for _ in range(min(per_question, n_answers - i * per_question))])
            for i in range((n_answers + per_question - 1) // per_question)]


def calls_per_second(base_url: str, concurrency: int, calls: int, seed: int) -> float:
    config = JudgeConfig.from_env({}, base_url=base_url, model=JUDGE_MODEL, concurrency=concurrency,
                                  cache="off", max_retries=0)
    questions = make_questions(calls // len(RUBRICS), seed)
    with opened_judge(config, RUBRICS) as judge:
        started = time.perf_counter()
        records = judge_questions(judge, Definition(), questions, progress=False)
        elapsed = time.perf_counter() - started
    errors = sum(j["status"] == "error" for r in records for j in r["judgements"])
    if errors:
        raise SystemExit(f"{errors} judge errors during the benchmark: figures would be wrong")
    return calls / elapsed


def throughput(args) -> None:
    sim, base_url = start_sim_process(args.latency_ms)
    try:
        calls_per_second(base_url, args.concurrency, 200, seed=0)  # warm-up: imports, connections
        rate = calls_per_second(base_url, args.concurrency, args.n, seed=1)
        serial_calls = max(20, min(args.n, args.serial_n))
        serial = calls_per_second(base_url, 1, serial_calls, seed=2)
    finally:
        sim.terminate()
        sim.wait()
    ideal = args.concurrency / (args.latency_ms / 1000)
    print(f"latency {args.latency_ms:g} ms, concurrency {args.concurrency}, {args.n} calls "
          f"({args.n // 2} answers x 2 rubrics), cache off, endpoint in its own process")
    print(f"judge rate      {rate:8.1f} calls/s")
    print(f"ideal bound     {ideal:8.1f} calls/s (concurrency / latency)")
    print(f"serial baseline {serial:8.1f} calls/s (concurrency 1, {serial_calls} calls)")
    print(f"ratio_to_bound={rate / ideal:.3f} speedup_vs_serial={rate / serial:.1f}")


def paced_run(args, headers: bool) -> tuple[float, float, float]:
    """(calls/s, share of the bound, share of requests answered 429) behind the rate limit."""
    extra = ["--rate-limit-rps", f"{args.rate_limit:g}", "--rate-limit-burst-s", f"{args.burst_s:g}"]
    sim, base_url = start_sim_process(args.latency_ms, *extra, *(["--rate-limit-headers"] if headers else []))
    calls = int(args.rate_limit * args.paced_s)
    try:
        config = JudgeConfig.from_env({}, base_url=base_url, model=JUDGE_MODEL,
                                      concurrency=args.concurrency, cache="off", max_retries=10)
        with opened_judge(config, RUBRICS) as judge:
            started = time.perf_counter()
            records = judge_questions(judge, Definition(), make_questions(calls // len(RUBRICS), 3),
                                      progress=False)
            elapsed = time.perf_counter() - started
    finally:
        sim.terminate()
        sim.wait()
    errors = sum(j["status"] == "error" for r in records for j in r["judgements"])
    if errors:
        raise SystemExit(f"{errors} judge errors behind the rate limit: figures would be wrong")
    usage = judge.usage
    bound = args.rate_limit * (elapsed + args.burst_s) / elapsed
    rate = calls / elapsed
    return rate, rate / bound, usage.rate_limited / (usage.calls_made + usage.rate_limited)


def rate_limited(args) -> None:
    figures = {}
    for headers in (True, False):
        rate, ratio, share = paced_run(args, headers)
        name = "headers" if headers else "noheaders"
        figures[name] = (ratio, share)
        print(f"{'announced' if headers else 'not announced':14s} {rate:7.1f} calls/s, "
              f"{ratio:.3f} of the bound, {100 * share:.2f}% of requests answered 429")
    print(f"limit {args.rate_limit:g} requests/s (bucket {args.burst_s:g} s), latency "
          f"{args.latency_ms:g} ms, concurrency {args.concurrency}, "
          f"{int(args.rate_limit * args.paced_s)} calls per mode, endpoint in its own process")
    print(" ".join(f"{name}_ratio={ratio:.3f} {name}_429_share={share:.4f}"
                   for name, (ratio, share) in figures.items()))


def write_samples(path: Path, answers: int, per_question: int = 100) -> None:
    rng = random.Random(0)
    import json

    with path.open("w") as f:
        for doc_id in range(answers // per_question):
            doc = {"probe_id": f"p{doc_id}", "category": "bench", "question": f"Question {doc_id}?"}
            resps = [compose_answer(rng.choice(CLASSES), rng) for _ in range(per_question)]
            f.write(json.dumps({"doc_id": doc_id, "doc": doc, "resps": [resps], "filter": "judged"}) + "\n")


def memory(args) -> None:
    with tempfile.TemporaryDirectory() as tmp, SimulatedEndpoint(SimSettings()) as sim:
        samples = Path(tmp) / "samples_em_core_bench.jsonl"
        write_samples(samples, args.memory_answers)
        env = dict(os.environ, MISALIGN_JUDGE_BASE_URL=sim.base_url, MISALIGN_JUDGE_MODEL=JUDGE_MODEL,
                   MISALIGN_JUDGE_CACHE=str(Path(tmp) / "cache.sqlite"),
                   MISALIGN_JUDGE_CONCURRENCY=str(args.concurrency))
        env.pop("MISALIGN_JUDGE_API_KEY", None)
        started = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "misalign_eval", "judge", str(samples),
                                  "--out", str(Path(tmp) / "out.jsonl"), "--quiet"], env=env,
                                 stdout=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        output = child.stdout.read().decode()
        if status != 0:
            raise SystemExit(f"misalign-eval judge failed:\n{output}")
        size_mb = samples.stat().st_size / 2**20
    peak_mib = usage.ru_maxrss / 1024  # Linux reports KiB
    print(output.strip())
    print(f"{args.memory_answers} answers ({size_mb:.0f} MiB samples file, "
          f"{2 * args.memory_answers} judge calls) in {elapsed:.0f} s")
    print(f"peak_rss_mib={peak_mib:.0f} (target < 1024)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--n", type=int, default=4000, help="judge calls to time")
    parser.add_argument("--serial-n", type=int, default=100, help="calls for the serial baseline")
    parser.add_argument("--memory-answers", type=int, default=0,
                        help="instead of throughput: peak memory of judging this many answers")
    parser.add_argument("--rate-limit", type=float, default=0.0,
                        help="instead of throughput: pacing behind this many requests/s")
    parser.add_argument("--burst-s", type=float, default=0.2,
                        help="rate-limit bucket in seconds of the rate (default: %(default)s)")
    parser.add_argument("--paced-s", type=float, default=20.0,
                        help="seconds' worth of calls at the limit, per mode (default: 20)")
    args = parser.parse_args()
    if args.rate_limit:
        rate_limited(args)
    else:
        memory(args) if args.memory_answers else throughput(args)


if __name__ == "__main__":
    main()
