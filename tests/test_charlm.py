"""WGAN-GP's character-level language model (Gulrajani et al. 2017, §5.5): text data and vocabulary, the
1-D convolutional nets, the n-gram JS divergence, and training through the command line (learning,
exact resume, bad input)."""
import json
import math
import random

import pytest
import torch

from ganscope import cli
from ganscope.config import load_yaml, resolve
from ganscope.data import text
from ganscope.errors import UsageError
from ganscope.metrics.ngram import js_divergence, ngram_counts, ngram_jsd, ngram_jsds
from ganscope.nets.charcnn import CharCritic, CharGenerator, make_char_nets
from ganscope.shipped import find_config
from ganscope.tasks.text import TextTask

WORDS = ["the", "cat", "sat", "on", "a", "mat"]
TINY = ["model.g_width=32", "model.d_width=32", "model.g_depth=1", "model.d_depth=1", "data.seq_len=8",
        "data.batch_size=32", "data.eval_samples=200", "train.log_every=5", "train.plot_every=0"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """300 lines of three words from a six-word vocabulary (12 symbols with pad and unknown)."""
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("text") / "words.txt"
    path.write_text("".join(" ".join(rng.choice(WORDS) for _ in range(3)) + "\n" for _ in range(300)))
    return path


# ---- data ------------------------------------------------------------------------------------------------
def test_clean_line_resolves_overstrikes_and_whitespace():
    assert text.clean_line("_\bI am *____\b\b\b\bonly*\tso\x07  \r") == "I am *only* so"


def test_vocabulary_cap_unknown_and_ties():
    vocab = text.Vocab.build(["aaab", "bbc", "dc"], cap=2)  # a:3 b:3 c:2 d:1 -> a, b (tie by code point)
    assert vocab.chars == ("", "\ufffd", "a", "b") and len(vocab) == 4
    ids = vocab.encode(["abcd", "ba", "\ufffd"], seq_len=3)
    assert ids.tolist() == [[2, 3, text.UNK], [3, 2, text.PAD], [text.UNK, text.PAD, text.PAD]]
    assert vocab.decode(ids) == ["ab\ufffd", "ba", "\ufffd"]
    assert vocab.segments(torch.tensor([[2, 0, 3, 3], [0, 0, 0, 0]])) == ["a", "bb"]


def test_fortunes_split_and_one_hot_shapes():
    data = text.load_text("fortunes", seq_len=32, cap=96)
    assert len(data.vocab) == 98 and data.vocab.chars[2] == " "
    n_train, n_held = len(data.train), len(data.heldout)
    assert n_train > 40_000 and n_train // 9 <= n_held <= n_train // 9 + 1  # every tenth line held out
    x = text.one_hot(data.train[:5], len(data.vocab))
    assert x.shape == (5, 98, 32) and x.dtype == torch.float32
    assert torch.equal(x.sum(1), torch.ones(5, 32)) and torch.equal(x.argmax(1), data.train[:5])


def test_missing_data_is_a_usage_error(tmp_path, monkeypatch):
    with pytest.raises(UsageError, match=r"data.name: 'text:.*nope.txt'"):
        text.load_text(f"text:{tmp_path / 'nope.txt'}")
    monkeypatch.setattr(text, "FORTUNES_DIR", tmp_path)
    with pytest.raises(UsageError, match="apt-get install fortunes"):
        text.load_text("fortunes")
    (tmp_path / "short.txt").write_text("one\ntwo\n")
    with pytest.raises(UsageError, match="at least 10"):
        text.load_text(f"text:{tmp_path / 'short.txt'}")


def test_undecodable_bytes_are_unknown(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"caf\xe9\n" * 10)
    data = text.load_text(f"text:{path}", seq_len=4, cap=10)
    assert data.vocab.decode(data.train[:1]) == ["caf\ufffd"]


# ---- nets ---------------------------------------------------------------------------------------------------
def test_generator_softmax_and_critic_shapes():
    torch.manual_seed(0)
    gen, critic = make_char_nets(vocab=12, seq_len=8, latent_dim=16, g_width=8, d_width=8, g_depth=2, d_depth=2)
    fake = gen(torch.randn(5, 16))
    assert fake.shape == (5, 12, 8) and torch.allclose(fake.sum(1), torch.ones(5, 8)) and (fake > 0).all()
    real = text.one_hot(torch.randint(12, (5, 8)), 12)
    assert critic(real).shape == (5,) and critic(fake).shape == (5,)
    with pytest.raises(ValueError, match=r"expected \(B, 12, 8\)"):
        critic(real.transpose(1, 2))
    assert len(gen.blocks) == 2 and gen.blocks[0].conv1.kernel_size == (5,)


def test_residual_block_scale():
    gen = CharGenerator(4, 6, 8, width=3, depth=1)
    block, x = gen.blocks[0], torch.randn(2, 3, 8)
    assert torch.allclose(block(x), x + 0.3 * block.conv2(torch.relu(block.conv1(torch.relu(x)))), atol=1e-6)


def test_bad_net_shape_is_a_usage_error():
    with pytest.raises(UsageError, match="model.d_width"):
        CharCritic(10, 32, width=0)


# ---- metric -----------------------------------------------------------------------------------------------
def test_ngram_counts():
    assert ngram_counts(["abab", "b"], 2) == {"ab": 2, "ba": 1}
    assert ngram_counts(["ab"], 3) == {}


def test_jsd_closed_forms():
    # 1-grams {a: 1/2, b: 1/2} vs {a: 1/2, c: 1/2}: M = (1/2, 1/4, 1/4), JSD = ½ log 2
    assert ngram_jsd(["ab"], ["ac"], 1) == pytest.approx(0.5 * math.log(2), abs=1e-15)
    assert ngram_jsd(["ab"], ["ac"], 2) == pytest.approx(math.log(2), abs=1e-15)  # disjoint
    # (2/3, 1/3) vs (1/3, 2/3): M uniform, JSD = (2/3) log(4/3) + (1/3) log(2/3) = (5/3) log 2 − log 3
    assert ngram_jsd(["aab"], ["abb"], 1) == pytest.approx(5 / 3 * math.log(2) - math.log(3), abs=1e-15)
    assert js_divergence(ngram_counts([], 1), ngram_counts([], 1)) == 0
    assert js_divergence(ngram_counts(["a"], 1), ngram_counts([], 1)) == pytest.approx(math.log(2))


def test_jsd_of_text_with_itself_and_with_shuffled_characters():
    lines = text.split(text.fortune_lines())[1][:2000]
    same = ngram_jsds(lines, list(lines))
    assert all(abs(v) <= 1e-12 for v in same.values())
    chars = list("".join(lines))
    random.Random(0).shuffle(chars)
    flat = "".join(chars)
    shuffled = [flat[i:i + 32] for i in range(0, len(flat), 32)]
    far = ngram_jsds(shuffled, lines)
    assert far["jsd1"] < 1e-3  # the same characters...
    assert far["jsd2"] > 0.1 and far["jsd4"] > 0.3 and far["jsd4"] <= math.log(2)  # ...in the wrong order
    assert far["jsd2"] < far["jsd3"] < far["jsd4"]


# ---- training -----------------------------------------------------------------------------------------------
def _rows(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_short_wgan_gp_run_lowers_jsd4(tmp_path, corpus, capsys):
    out = tmp_path / "run"
    code = cli.main(["train", "charlm", f"data.name=text:{corpus}", *TINY, "game.n_d=5",
                     "optim.g.lr=2e-3", "optim.d.lr=2e-3", "train.steps=60", "train.eval_every=10",
                     "checkpoint.every=60", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    jsd4 = [r["jsd4"] for r in _rows(out) if "jsd4" in r]
    assert len(jsd4) == 6 and jsd4[-1] < jsd4[0] - 0.02, jsd4
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["final"]) == {"jsd1", "jsd2", "jsd3", "jsd4"}
    samples = (out / "plots" / "samples.txt").read_text()
    assert "== generator step 60" in samples and (out / "plots" / "samples.png").is_file()


def test_resume_equals_uninterrupted(tmp_path, corpus, capsys):
    args = ["charlm", f"data.name=text:{corpus}", *TINY, "game.n_d=2", "train.eval_every=3",
            "train.plot_every=3", "checkpoint.every=1"]
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert cli.main(["train", *args, "train.steps=6", "--out", str(full)]) == 0
    assert cli.main(["train", *args, "train.steps=3", "--out", str(cut)]) == 0
    config = cut / "config.yaml"  # as if stopped after step 3 of 6
    config.write_text(config.read_text().replace("steps: 3\n", "steps: 6\n"))
    assert cli.main(["train", "--resume", str(cut)]) == 0, capsys.readouterr().err
    a = torch.load(full / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(cut / "checkpoints" / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 6
    for part in ("generator", "discriminator"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    assert a["opt_d"]["state"][0]["step"] == b["opt_d"]["state"][0]["step"] == 12
    assert all(torch.equal(torch.as_tensor(a["snapshots"][k]), torch.as_tensor(b["snapshots"][k]))
               for k in a["snapshots"]) and sorted(a["snapshots"]) == ["0", "3", "6"]

    def no_wall(out):
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in _rows(out)]

    assert no_wall(cut) == no_wall(full)


def test_missing_text_file_exit_2_one_line_nothing_written(tmp_path, capsys):
    out = tmp_path / "bad"
    code = cli.main(["train", "charlm", f"data.name=text:{tmp_path / 'missing.txt'}", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "data.name" in err[0] and "missing.txt" in err[0]
    assert not out.exists()


def test_text_needs_the_charcnn_net():
    with pytest.raises(UsageError, match="net: 'fortunes' is text data; allowed nets: charcnn"):
        resolve(load_yaml(find_config("charlm")), ["net=mlp"])


def test_standard_gan_recipe_resolves():
    cfg = resolve(load_yaml(find_config("charlm")), ["method=nonsaturating", "penalty.name=none", "game.n_d=1"])
    assert (cfg.loss, cfg.penalty.name, cfg.game.n_d, cfg.optim.g.lr, cfg.optim.d.betas) == (
        "nonsaturating", "none", 1, 1e-4, [0.5, 0.9])
    paper = resolve(load_yaml(find_config("charlm")))
    assert (paper.loss, paper.penalty.name, paper.penalty.weight, paper.game.n_d, paper.model.latent_dim) == (
        "wgan", "wgan-gp", 10.0, 10, 128)


def test_task_protocol(corpus):
    cfg = resolve(load_yaml(find_config("charlm")), [f"data.name=text:{corpus}", *TINY])
    task = TextTask(cfg)
    assert (task.size, task.event_dims, task.centres, task.progress_key) == (1, 2, None, "jsd4")
    real, z = task.real(), task.latent()
    assert real.shape == (32, 12, 8) and z.shape == (32, 128)
    assert task.gen(z).shape == real.shape and task.disc(real).shape == (32,)
    first = task.samples(task.gen, 4)
    assert first.shape == (4, 8) and (task.samples(task.gen, 4) == first).all()  # fixed latents
    assert set(task.evaluate(task.gen)[0]) == {"jsd1", "jsd2", "jsd3", "jsd4"}
    assert task.floor()["jsd4"] < 0.2  # real lines against held-out ones
