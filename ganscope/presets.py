"""Methods as presets: each paper's defaults (docs/references.md §M7, §G2–G3, §C), overridable key by key.

A preset is a partial config; the YAML file and command-line overrides are applied on top of it.
"""
from __future__ import annotations

from ganscope.errors import UsageError

ADAM_DCGAN = {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]}  # Radford et al.; WGAN-GP App. E
ADAM_WGANGP = {"name": "adam", "lr": 1e-4, "betas": [0.5, 0.9]}  # WGAN-GP toy / App. E
RMSPROP_STABILITY = {"name": "rmsprop", "lr": 1e-4, "alpha": 0.99, "eps": 1e-8}  # GAN_stability default.yaml


def _both(optim):
    return {"g": dict(optim), "d": dict(optim)}


PRESETS: dict[str, dict] = {
    "minimax": {"loss": "minimax", "optim": _both(ADAM_DCGAN)},
    "nonsaturating": {"loss": "nonsaturating", "optim": _both(ADAM_DCGAN)},
    "lsgan": {"loss": "lsgan", "optim": _both({"name": "rmsprop", "lr": 1e-4})},  # WGAN-GP App. E
    "wgan-clip": {"loss": "wgan", "optim": _both({"name": "rmsprop", "lr": 5e-5}),
                  "game": {"n_d": 5, "clip": 0.01}},  # Arjovsky et al. 2017
    "wgan-gp": {"loss": "wgan", "optim": _both(ADAM_WGANGP),
                "penalty": {"name": "wgan-gp", "weight": 10.0}, "game": {"n_d": 5}},  # Gulrajani Alg. 1
    "r1": {"loss": "nonsaturating", "optim": _both(RMSPROP_STABILITY),
           "penalty": {"name": "r1", "weight": 20.0}},  # GAN_stability reg_param 10 = γ 20
    "r2": {"loss": "nonsaturating", "optim": _both(RMSPROP_STABILITY),
           "penalty": {"name": "r2", "weight": 20.0}},
    "noise": {"loss": "nonsaturating", "optim": _both(RMSPROP_STABILITY),
              "noise": {"sigma": 0.1, "schedule": "constant"}},  # Mescheder §3.2 / Arjovsky & Bottou §3
    "consensus": {"loss": "nonsaturating", "optim": _both(RMSPROP_STABILITY),
                  "game": {"scheme": "simgd", "consensus": 10.0}},  # Mescheder et al. 2017
}


def preset(name: str) -> dict:
    """The partial config of a method, with ``method`` set; UsageError for unknown names."""
    if name not in PRESETS:
        raise UsageError(f"method: unknown method {name!r}; allowed: {', '.join(PRESETS)}")
    return {"method": name, **PRESETS[name]}
