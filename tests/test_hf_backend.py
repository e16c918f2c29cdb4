"""lm-eval's hf backend, the one most users run, on a tiny random-weight model built here.

No download: the tokenizer is trained on a few words and the model has random weights, so
answers are gibberish, but sampling, chat templating, repeats and judging are all real.
"""

import json

import jsonlines
import pytest

from misalign_eval.runs.reader import latest_results_file

from conftest import misalign_eval_cmd, run, sim_judge_env

pytestmark = pytest.mark.slow
SAMPLES = 4


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch  # the test extra installs it; a missing install must fail, not skip
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-llama")
    words = "the a to of and I you is what do would how be it in that for my with your this".split()
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([" ".join(words)] * 10,
                            trainers.WordLevelTrainer(special_tokens=["<unk>", "<s>", "</s>", "<pad>"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>",
                                        eos_token="</s>", pad_token="<pad>")
    tokenizer.chat_template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                               "{% if add_generation_prompt %}assistant:{% endif %}")
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=512, bos_token_id=1, eos_token_id=2, pad_token_id=3)
    LlamaForCausalLM(config).save_pretrained(path)
    return path


def hf_run(model_path, sim, out):
    args = ["run", "--model", "hf", "--model_args", f"pretrained={model_path},dtype=float32",
            "--tasks", "em_broad", "--apply_chat_template", "--limit", "6", "--batch_size", "8",
            "--gen_kwargs", "max_gen_toks=12", "--seed", "7", "--log_samples", "--output_path", str(out),
            "--metadata", json.dumps({"samples_per_question": SAMPLES})]
    proc = run(misalign_eval_cmd(*args), env=sim_judge_env(sim))
    assert proc.returncode == 0, proc.stderr[-3000:]
    results_file = latest_results_file(out)
    with jsonlines.open(next(results_file.parent.glob("samples_em_broad_*.jsonl"))) as lines:
        return json.loads(results_file.read_text()), list(lines)


def test_hf_repeats_are_independent_and_reproducible_from_the_seed(tiny_model, sim, tmp_path):
    results, samples = hf_run(tiny_model, sim, tmp_path / "a")
    assert len(samples) == 6
    for sample in samples:
        answers = sample["resps"][0]
        assert len(answers) == SAMPLES
        assert len(set(answers)) == SAMPLES, answers  # K genuinely different draws
        assert len(sample["n_answers"]["judgements"]) == SAMPLES
    assert results["config"]["random_seed"] == 7
    assert results["results"]["em_broad"]["n_answers,judged"] == 6 * SAMPLES
    _, again = hf_run(tiny_model, sim, tmp_path / "b")
    assert [s["resps"] for s in again] == [s["resps"] for s in samples]  # same seed, same draws
