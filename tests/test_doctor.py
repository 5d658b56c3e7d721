"""``ganscope doctor``: a user's nets from their own file or module, weights with weights_only=True, the monitor's
page for that point; bad input (unimportable module, failing factory, missing keys, shape mismatch, a checkpoint
that would run code) gives one line, exit 2 and writes nothing."""
import json
import textwrap

import pytest
import torch

from ganscope.cli import main
from ganscope.monitor import build_net

USER = textwrap.dedent("""
    import torch
    from torch import nn

    class Generator(nn.Module):
        latent_dim = 4

        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))

        def forward(self, z):
            return self.net(z)

    def make_g():
        return Generator()

    def make_d():
        return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1), nn.Flatten(0))

    def wide_d():
        return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1), nn.Flatten(0))

    def broken():
        raise RuntimeError("needs a GPU")
""")


class Opaque:  # a pickled object that weights_only=True refuses
    pass


@pytest.fixture()
def user(tmp_path):
    path = tmp_path / "user_nets.py"
    path.write_text(USER)
    ns = {}
    exec(compile(USER, str(path), "exec"), ns)
    torch.manual_seed(1)
    ckpt = tmp_path / "ckpt.pt"
    torch.save({"generator": ns["make_g"]().state_dict(), "critic": ns["make_d"]().state_dict(), "step": 300}, ckpt)
    return tmp_path, path, ckpt


def argv(path, ckpt, out, **over):
    args = {"--generator": f"{path}:make_g", "--critic": f"{path}:make_d", "--checkpoint": str(ckpt),
            "--data": "8gaussians", "--out": str(out), "--samples": "200", "--probe-iterations": "20", **over}
    return ["doctor"] + [x for k, v in args.items() if v is not None for x in (k, v)]


def test_the_doctor_writes_the_page_for_one_point(user, capsys):
    tmp, path, ckpt = user
    assert main(argv(path, ckpt, tmp / "out", **{"--penalty": "r1=10"})) == 0
    summary = json.loads((tmp / "out" / "summary.json").read_text())
    names = {r["diagnostic"]: r["verdict"] for r in summary["readings"]}
    assert {"d_gap", "modes_covered", "spectrum", "probe"} <= set(names) and "speed_g" not in names
    assert summary["final"]["step"] == 301 and 0 <= summary["final"]["modes_covered"] <= 8
    assert summary["settings"]["penalty"] == ["r1", 10.0]
    assert (tmp / "out" / "index.html").is_file() and (tmp / "out" / "plots" / "spectrum.png").is_file()
    out = capsys.readouterr().out
    assert "spectrum" in out and "index.html" in out


def test_a_module_path_works_like_a_file(user, monkeypatch):
    tmp, path, _ = user
    monkeypatch.syspath_prepend(str(tmp))
    from_module, from_file = build_net("user_nets:make_g", "--generator"), build_net(f"{path}:make_g", "--generator")
    assert type(from_module).__name__ == type(from_file).__name__ == "Generator"
    assert all(torch.equal(a, b) for a, b in zip(from_module.state_dict().values(), from_file.state_dict().values()))


@pytest.mark.parametrize("over,message", [
    ({"--generator": "no_such_module_xyz:make"}, "--generator: cannot import no_such_module_xyz: ModuleNotFoundError"),
    ({"--generator": "PATH:nothing"}, "--generator: PATH has no callable 'nothing'"),
    ({"--generator": "PATH"}, "--generator: expected MODULE:FACTORY or FILE.py:FACTORY"),
    ({"--critic": "PATH:broken"}, "--critic: PATH:broken() failed: RuntimeError: needs a GPU"),
    ({"--keys": "G,D"}, "--keys: CKPT has no key 'G' for the generator; its keys: critic, generator, step"),
    ({"--keys": "generator"}, "--keys: expected two comma-separated keys G,D"),
    ({"--critic": "PATH:wide_d"}, "--checkpoint: the critic does not fit CKPT['critic']"),
    ({"--checkpoint": "missing.pt"}, "--checkpoint: no such file missing.pt"),
    ({"--checkpoint": "OPAQUE"}, "--checkpoint: OPAQUE does not load with weights_only=True"),
    ({"--latent": "5"}, "--data: the nets fail on 8gaussians with latents of size 5"),
    ({"--data": "digits"}, "generator: returns samples of shape (8, 2), the real samples have shape (200, 1, 8, 8)"),
    ({"--data": "nowhere"}, "--data: 'nowhere' is neither an image data set"),
    ({"--metrics": "diagnostics,fid"}, "metrics: 'fid' needs images"),
    ({"--loss": "bce"}, "--loss: unknown loss 'bce'"),
    ({"--penalty": "r1=x"}, "--penalty: expected NAME=WEIGHT with a number"),
    ({"--penalty": "r7=1"}, "penalty: unknown penalty 'r7'"),
])
def test_bad_input_is_one_line_exit_2_nothing_written(user, over, message, capsys, monkeypatch):
    tmp, path, ckpt = user
    monkeypatch.chdir(tmp)
    opaque = tmp / "opaque.pt"
    torch.save({"generator": Opaque()}, opaque)
    sub = {"PATH": str(path), "CKPT": str(ckpt), "OPAQUE": str(opaque)}
    over = {k: next((v.replace(a, b) for a, b in sub.items() if a in v), v) for k, v in over.items()}
    for a, b in sub.items():
        message = message.replace(a, b)
    assert main(argv(path, ckpt, tmp / "out", **over)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1 and "Traceback" not in err, err
    assert not (tmp / "out").exists()
