"""An API key never appears in results, samples, cache, logs or error messages."""

import pytest

from misalign_eval.runs.reader import latest_results_file
from misalign_eval.sim import SimSettings, SimulatedEndpoint
from misalign_eval.sim.server import JUDGE_MODEL

from conftest import clean_env, misalign_eval_cmd, run, subject_args

FAKE_KEY = "sk-test-DO-NOT-LEAK-5b2e9d71c0"
FRAGMENTS = (FAKE_KEY, "DO-NOT-LEAK", "5b2e9d71c0")

pytestmark = pytest.mark.slow


def assert_no_key(*texts: str, files=()):
    for text in texts:
        for fragment in FRAGMENTS:
            assert fragment not in text
    for path in files:
        data = path.read_bytes()
        for fragment in FRAGMENTS:
            assert fragment.encode() not in data, f"{fragment!r} found in {path}"


def test_key_is_never_written_or_printed(tmp_path):
    cache_home = tmp_path / "cache"
    with SimulatedEndpoint(SimSettings(api_key=FAKE_KEY)) as sim:
        env = clean_env(MISALIGN_JUDGE_BASE_URL=sim.base_url, MISALIGN_JUDGE_MODEL=JUDGE_MODEL,
                        MISALIGN_JUDGE_API_KEY=FAKE_KEY, XDG_CACHE_HOME=str(cache_home))
        evaluated = run(misalign_eval_cmd("run", *subject_args(sim, tmp_path / "out", 4),
                                          "--verbosity", "DEBUG"), env=env)
        assert evaluated.returncode == 0, evaluated.stderr[-2000:]
        samples = next(latest_results_file(tmp_path / "out").parent.glob("samples_*.jsonl"))
        judged = run(misalign_eval_cmd("judge", str(samples), "--out", str(tmp_path / "j.jsonl")), env=env)
        assert judged.returncode == 0, judged.stderr[-2000:]
        wrong = run(misalign_eval_cmd("judge", str(samples), "--out", str(tmp_path / "w.jsonl")),
                    env=env | {"MISALIGN_JUDGE_API_KEY": FAKE_KEY[::-1]})
    assert wrong.returncode == 2 and "rejected the API key" in wrong.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in written)  # the cache was written and is searched
    assert len(written) >= 4
    assert_no_key(evaluated.stdout, evaluated.stderr, judged.stdout, judged.stderr,
                  wrong.stdout, wrong.stderr, files=written)
    for fragment in FRAGMENTS[1:]:
        assert fragment[::-1] not in wrong.stderr  # nor the wrong key
