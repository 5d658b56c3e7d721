"""What tests/test_distributed.py runs under ``torchrun --nproc_per_node 2`` (gloo, CPU); not a test module.

``ddp_worker.py CASES.json RESULTS CONFIG FULL CUT STEP MARKER``, in one launch (each launch costs seconds):

1. (a) for each case {name, values, overrides, steps}: a data-parallel ``Run`` stepped ``steps`` generator
   steps, checking after every step that the ranks hold the same parameters; rank 0 saves the weights to
   ``RESULTS/NAME.pt``.
2. The uninterrupted job of the kill-and-resume test, ``train.start(CONFIG, [], out)``: rank 0 writes ``FULL``,
   rank r is given ``FULL.rankR``, which must stay absent (c).
3. The job to be killed, ``ganscope train CONFIG --out CUT`` (the command line), where rank 0, once it has
   written the checkpoint of generator step STEP, writes MARKER and waits: the test SIGKILLs the whole job.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from ganscope import distributed, train
from ganscope.cli.main import main
from ganscope.config import resolve


def run_cases(cases_path, results, ranks):
    for case in json.loads(Path(cases_path).read_text()):
        cfg = resolve(case["values"], case["overrides"])
        train.prepare(cfg, ranks.rank)
        run = train.Run(cfg, Path(results) / f"{case['name']}.rank{ranks.rank}", ranks=ranks)
        params = [p for net in (run.game.gen.net, run.game.disc.net) for p in net.parameters()]
        same = [ranks.same_on_all_ranks(params)]
        for step in range(case["steps"]):
            run.game.step(step)
            same.append(ranks.same_on_all_ranks(params))
        if ranks.main:
            ema = run.game.ema.state_dict() if run.game.ema is not None else None
            torch.save({"generator": run.game.gen.net.state_dict(), "discriminator": run.game.disc.net.state_dict(),
                        "ema": ema, "same": same}, Path(results) / f"{case['name']}.pt")


def killed_at(step, marker, argv):
    """``ganscope ARGV``, rank 0 pausing for the kill after the checkpoint of generator step ``step``."""
    save = train.Run.save

    def save_then_wait(self, path=None):
        save(self, path)
        if self.ranks.main and self.step == step and path is None:
            Path(marker).write_text(str(step))
            time.sleep(600)  # the test kills the whole job here

    train.Run.save = save_then_wait
    return main(argv)


if __name__ == "__main__":
    cases, results, config, full, cut, step, marker = sys.argv[1:]
    with distributed.session() as ranks:
        run_cases(cases, results, ranks)
        assert train.start(config, [], full if ranks.main else f"{full}.rank{ranks.rank}") == 0
        sys.exit(killed_at(int(step), marker, ["train", config, "--out", cut]))
