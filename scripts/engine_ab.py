"""Two checkouts' 2-D engines side by side in one process (docs/performance.md, "The 2-D engine's per-step overhead"):

    OMP_NUM_THREADS=1 python scripts/engine_ab.py OLD_CHECKOUT [THREADS] [STEPS] [ROUNDS]

Imports ``ganscope`` from OLD_CHECKOUT and from this checkout under separate module tables, builds bench row (b)'s
step (``configs/toy2d.yaml``, 3 × 128 MLPs, batch 256, ``train.Run``) with each, and times them interleaved
with ``bench/ensemble.py``'s ``PlainLoop`` on nn.Linear and on the engine's nets: ROUNDS rounds (default 25) of
STEPS-step blocks (default 20), the order rotating every round, after one warm-up round. At one thread the
clock is the thread's CPU time (a busy machine's other jobs then cost little), else wall time. Prints the
median and minimum µs per step of each side and their ratios.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def _import_tree(root: Path) -> dict:
    """The ganscope modules of the checkout at ``root``, imported and then taken out of ``sys.modules``."""
    sys.path.insert(0, str(root))
    import ganscope.config  # noqa: F401
    import ganscope.shipped  # noqa: F401
    import ganscope.train  # noqa: F401
    mods = {k: sys.modules.pop(k) for k in list(sys.modules) if k == "ganscope" or k.startswith("ganscope.")}
    sys.path.remove(str(root))
    return mods


def _run_step(mods: dict, width: int = 128, batch: int = 256):
    config, shipped, train = mods["ganscope.config"], mods["ganscope.shipped"], mods["ganscope.train"]
    values = config.load_yaml(shipped.find_config("toy2d"))
    values["model"] = {**values["model"], "g_width": width, "d_width": width}
    values["data"] = {**values["data"], "batch_size": batch}
    values["train"] = {**values.get("train", {}), "plots": False, "diagnostics": False}
    run = train.Run(config.resolve(values), "/nonexistent")
    counter = [0]

    def step():
        run.game.step(counter[0])
        counter[0] += 1
    return step


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    old_root = Path(argv[0]).resolve()
    threads, steps, rounds = (int(a) for a in (argv[1:] + ["1", "20", "25"][len(argv) - 1:])[:3])
    old, new = _import_tree(old_root), _import_tree(HERE)
    import torch

    torch.set_num_threads(threads)
    sys.modules.update(new)
    sys.path[:0] = [str(HERE / "bench"), str(HERE)]
    from ensemble import PlainLoop, toy_config

    cfg = toy_config(128, 256)
    blocks = {"old": _run_step(old), "new": _run_step(new), "plain": PlainLoop(cfg).step,
              "plain_engine_nets": PlainLoop(cfg, engine_nets=True).step}
    clock = time.thread_time if threads == 1 else time.perf_counter
    names, times = list(blocks), {k: [] for k in blocks}
    for r in range(rounds + 1):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            t0 = clock()
            for _ in range(steps):
                blocks[name]()
            if r:
                times[name].append((clock() - t0) / steps * 1e6)
    print(f"old {old_root}, new {HERE}; {threads} thread(s), {'thread CPU' if threads == 1 else 'wall'} µs/step")
    for stat in (statistics.median, min):
        d = {k: stat(v) for k, v in times.items()}
        print(f"  {stat.__name__:>6}: " + ", ".join(f"{k} {v:,.0f}" for k, v in d.items()))
        print(f"          plain/old {d['plain'] / d['old']:.3f}, plain/new {d['plain'] / d['new']:.3f}, "
              f"old/new {d['old'] / d['new']:.3f}, plain_engine_nets/new {d['plain_engine_nets'] / d['new']:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
