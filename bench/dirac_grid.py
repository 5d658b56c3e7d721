"""Benchmark: spectral radius of the Dirac-GAN update operator over a 400 × 400 (h, γ) grid, every method.

Target (issue 2): under 1 s per method on the CI machine (2 cores), vectorised with no loop per grid point.
Reported as one row: the worst map's seconds (``--quick``: a 100 × 100 grid, one repetition).
Run: .venv/bin/python bench/dirac_grid.py [--quick]
"""
import sys
import time

import numpy as np

from _harness import row
from ganscope.analysis import dirac


def main(quick: bool = False) -> list[dict]:
    points, repeats = (100, 1) if quick else (400, 3)
    hs = np.linspace(1e-3, 4.0, points)
    values = np.linspace(1e-3, 3.0, points)
    times = {}
    for loss in dirac.LOSSES:
        for reg in dirac.REGULARISERS:
            game = dirac.DiracGAN(loss, reg, **({"target": 0.0} if reg == "wgan-gp" else {}))
            for scheme, n_g, n_d in (("simgd", 1, 1), ("altgd", 1, 5)):
                best = np.inf
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    rho = dirac.radius_map(game, hs, values, scheme, n_g, n_d)
                    best = min(best, time.perf_counter() - t0)
                assert rho.shape == (points, points)
                times[f"{loss}+{reg} {scheme}({n_g},{n_d})"] = best
    worst = max(times, key=times.get)
    return [row(f"dirac radius map {points}x{points}, worst method", "seconds per map", times[worst], "<= 1",
                worst=worst, maps=len(times), total_s=round(sum(times.values()), 3),
                note="wgan-gp is timed with g0 = 0 (the zero-centred penalty): g0 = 1 has no Jacobian there")]


if __name__ == "__main__":
    from _harness import print_rows

    print_rows(main("--quick" in sys.argv[1:]))
