"""Benchmark: the Jacobian spectrum (``ganscope.analysis.spectrum``) of 2-D MLP GANs of about 61k and 1M
parameters (R1, non-saturating, a fixed batch of 256): the estimate printed before it starts, the wall time,
and the number of Jacobian-vector products, for the full field and for the field restricted to the last layers
(``params=``). Issue 14: "a 61k-parameter spectrum ran 5 minutes with no output".

Also the low-rank eigensolver against LAPACK at an equilibrium (``equilibrium``).

Run: PYTHONPATH=. .venv/bin/python bench/spectrum_size.py [61k 1m equilibrium ...]; ``main()`` returns rows
{name, value, unit, ...}.
"""
import sys
import time

import numpy as np
import torch

from ganscope.analysis import spectrum as S
from ganscope.nets.mlp import MLP, Logit
from ganscope.objectives import get_objective

MODELS = {"61k": 122, "1m": 500}  # width of a 3-hidden-layer MLP G and D: 61,125 and about 1.0M parameters
BATCH = 256
LAST = ("gen.layers.3", "disc.net.layers.3")  # the output layers of G and D (MLP.layers: four Linear)


def field(width: int, params=None):
    torch.manual_seed(0)
    gen, disc = MLP(2, 2, 3, width, "tanh"), Logit(MLP(2, 1, 3, width, "tanh"))
    g = torch.Generator().manual_seed(1)
    real, z = torch.randn(BATCH, 2, generator=g), torch.randn(BATCH, 2, generator=g)
    return S.make_field(gen, disc, get_objective("nonsaturating"), real, z, penalty="r1", weight=1.0, params=params)


def estimate_only(name: str, width: int, k: int = S.K_DEFAULT) -> list[dict]:
    """The estimate of the full spectrum (one timed product) where the full run is too long for the machine."""
    est = S.estimate(field(width), k)
    print(S.estimate_line(est))
    common = {"n_params": est["n_params"], "n_params_total": est["n_params"], "method": est["method"], "k": k,
              "threads": torch.get_num_threads()}
    return [{"name": f"spectrum_{name}_estimate_s", "value": est["seconds"], "unit": "s", **common},
            {"name": f"spectrum_{name}_seconds_per_product", "value": est["seconds_per_product"], "unit": "s",
             **common}]


def measure(name: str, width: int, params=None, k: int = S.K_DEFAULT) -> list[dict]:
    fld = field(width, params)
    est = S.estimate(fld, k)
    t0 = time.perf_counter()
    out = S.spectrum(fld, 0.01, k=k, progress=True)
    wall = time.perf_counter() - t0
    tag = name + ("" if params is None else "-last-layers")
    common = {"n_params": out["n_params"], "n_params_total": out["n_params_total"], "method": out["method"],
              "k": k, "threads": torch.get_num_threads()}
    return [{"name": f"spectrum_{tag}_wall_s", "value": wall, "unit": "s", **common},
            {"name": f"spectrum_{tag}_estimate_s", "value": est["seconds"], "unit": "s", **common},
            {"name": f"spectrum_{tag}_products", "value": out["products"], "unit": "products",
             "estimated": est["products"], **common},
            {"name": f"spectrum_{tag}_max_real_part", "value": out["max_real_part"], "unit": "", **common}]


EQUILIBRIUM_GAME = ["method=r1", "data.name=circle"]  # the matrix's game (convergence2d), 4,547 parameters


def equilibrium(repeats: int = 1) -> list[dict]:
    """``spectrum_at_equilibrium``'s eigenvalues on the matrix's game: the low-rank solver against a full LAPACK
    eig of the same Jacobian and AltGD matrix (``LOW_RANK_MIN`` raised), and their largest normal-space
    disagreement. The ratio is full / low-rank, measured in one run."""
    task = S.equilibrium_game("convergence2d", EQUILIBRIUM_GAME)
    fld = S.equilibrium_field(task)
    jac = S.jacobian(fld)
    n, h = len(jac), task.cfg.optim.d.lr

    def timed(fn):
        t0 = time.perf_counter()
        for _ in range(repeats):
            out = fn()
        return (time.perf_counter() - t0) / repeats, out

    alt = lambda x: S.altgd_apply(jac, x, h, 1, 1, fld.n_gen) - x  # noqa: E731
    low_s, (lam, nu) = timed(lambda: (S.low_rank_eigvals(lambda x: jac @ x, n), S.low_rank_eigvals(alt, n)))
    full_s, (lam_f, mu_f) = timed(lambda: (np.linalg.eigvals(jac),  # what spectrum does below LOW_RANK_MIN
                                           np.linalg.eigvals(S.update_matrix(jac, h, "altgd", 1, 1, fld.n_gen))))
    a, b = S.normal_space(lam, 1 + nu, h), S.normal_space(lam_f, mu_f, h)
    err = max(abs(a[k] - b[k]) for k in ("spectral_radius_simgd_normal", "spectral_radius_altgd_normal",
                                         "slowest_rate"))
    common = {"n_params": n, "n_params_total": fld.n_total, "threads": torch.get_num_threads()}
    return [{"name": "spectrum_equilibrium_low_rank_s", "value": low_s, "unit": "s", **common},
            {"name": "spectrum_equilibrium_lapack_s", "value": full_s, "unit": "s", **common},
            {"name": "spectrum_equilibrium_speedup", "value": full_s / low_s, "unit": "x", **common},
            {"name": "spectrum_equilibrium_max_disagreement", "value": err, "unit": "", **common}]


def main(argv=None) -> list[dict]:
    """``[61k] [1m] [1m-full] [equilibrium]``: each model restricted to its last layers and in full; the 1M
    model's full spectrum (about 850 products of ~1 s each on one core) only with ``1m-full``, else its
    estimate; ``equilibrium`` (also without arguments): the low-rank eigensolver against LAPACK on the matrix's
    game."""
    argv = sys.argv[1:] if argv is None else argv
    names = [a for a in argv if a in MODELS] or ([] if argv == ["equilibrium"] else list(MODELS))
    rows = equilibrium() if "equilibrium" in argv or not argv else []
    for name in names:
        rows += measure(name, MODELS[name], LAST)
        full = name != "1m" or "1m-full" in argv
        rows += measure(name, MODELS[name]) if full else estimate_only(name, MODELS[name])
    for r in rows:
        print(f"{r['name']:<40} {r['value']:>12.4g} {r['unit']}  ({r['n_params']:,} of {r['n_params_total']:,} params)")
    return rows


if __name__ == "__main__":
    main()
