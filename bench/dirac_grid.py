"""Benchmark: spectral radius of the Dirac-GAN update operator over a 400 × 400 (h, γ) grid, every method.

Target (issue 2): under 1 s per method on the CI machine (2 cores), vectorised with no loop per grid point.
Run: .venv/bin/python bench/dirac_grid.py
"""
import time

import numpy as np

from ganscope.analysis import dirac


def main(points=400, repeats=3):
    hs = np.linspace(1e-3, 4.0, points)
    values = np.linspace(1e-3, 3.0, points)
    rows, total = [], 0.0
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
                rows.append((f"{loss}+{reg}", f"{scheme}({n_g},{n_d})", best))
                total += best
    width = max(len(r[0]) for r in rows)
    for name, scheme, t in rows:
        print(f"{name:<{width}}  {scheme:<12} {t * 1e3:8.1f} ms")
    worst = max(r[2] for r in rows)
    print(f"{len(rows)} maps of {points}x{points}: worst {worst * 1e3:.1f} ms, total {total:.2f} s "
          f"(target < 1 s per method: {'met' if worst < 1 else 'MISSED'})")
    print("note: wgan-gp with g0 = 1 has no Jacobian at the equilibrium; it is timed here with g0 = 0 "
          "(the zero-centred penalty)")


if __name__ == "__main__":
    main()
