"""Sweeps: spec expansion, grouping into ensembles, failure isolation, resume, aggregation, executors, CLI."""
import json
import math
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from ganscope import sweep as S
from ganscope.cli import _Parser
from ganscope.cli import sweep as cli_sweep
from ganscope.errors import UsageError

TINY = {"train.steps": 20, "model.g_width": 8, "model.d_width": 8, "data.batch_size": 32,
        "data.eval_samples": 100, "train.eval_every": 10, "train.log_every": 10, "checkpoint.every": 10,
        "checkpoint.keep": [10]}


def spec(**kw):
    return S.parse_spec({"set": dict(TINY), **kw})


def job_seeds(jobs, runs):
    seed = {r.name: r.seed for r in runs}
    return [[seed[n] for n in j.runs] for j in jobs]


# ---- expansion -----------------------------------------------------------------------------------------
def test_expand_grid_x_random_x_seeds():
    s = spec(grid={"method": ["r1", "wgan-gp"], "penalty.weight": [1, 5, 10]}, seeds={"count": 3, "start": 4},
             random={"n": 2, "seed": 7, "params": {"optim.d.lr": {"loguniform": ["1e-5", 1e-3]}}})
    runs = S.expand(s)
    assert len(runs) == 2 * 3 * 2 * 3 and len({r.name for r in runs}) == len(runs)
    assert {r.seed for r in runs} == {4, 5, 6}
    assert len({r.config_id for r in runs}) == 2 * 3 * 2  # configurations: everything but the seed
    lrs = {r.overrides["optim.d.lr"] for r in runs}
    assert len(lrs) == 2 and all(1e-5 <= x <= 1e-3 for x in lrs)
    assert [r.name for r in S.expand(s)] == [r.name for r in runs]  # stable names, reproducible draws
    r = runs[0]
    assert r.config["method"] == "r1" and r.config["penalty"]["weight"] == 1 and r.config["train"]["steps"] == 20


def test_run_names_follow_every_setting():
    a, b = S.expand(spec()), S.expand(S.parse_spec({"set": {**TINY, "train.steps": 30}}))
    assert a[0].name != b[0].name


# ---- grouping ------------------------------------------------------------------------------------------
def test_seeds_only_make_one_ensemble():
    runs = S.expand(spec(seeds={"count": 4}))
    (job,) = S.group(runs)
    assert job.is_ensemble and job.runs == tuple(r.name for r in runs)
    assert (job.config["ensemble"], job.config["seed"], job.config["members"]) == (4, 0, {})


def test_non_consecutive_seeds_split():
    runs = S.expand(spec(seeds=[0, 1, 2, 5, 7, 8]))
    jobs = S.group(runs)
    assert job_seeds(jobs, runs) == [[0, 1, 2], [5], [7, 8]]
    assert [j.is_ensemble for j in jobs] == [True, False, True]


def test_grid_over_method_groups_per_method_and_member_keys_per_value():
    runs = S.expand(spec(grid={"method": ["r1", "wgan-gp"]}, seeds=[0, 1]))
    assert job_seeds(S.group(runs), runs) == [[0, 1], [0, 1]]
    runs = S.expand(spec(grid={"penalty.weight": [1, 10]}, seeds=[0, 1, 2]))
    jobs = S.group(runs)
    assert len(jobs) == 2 and all(len(j.runs) == 3 for j in jobs)  # a seed appears once per ensemble
    assert [j.config["penalty"]["weight"] for j in jobs] == [1, 10]


def test_per_member_values_share_an_ensemble():
    a = S.expand(spec(grid={"penalty.weight": [1]}, seeds=[0]))
    b = S.expand(spec(grid={"penalty.weight": [10]}, seeds=[1]))
    (job,) = S.group(a + b)
    assert job.config["members"] == {"penalty.weight": [1.0, 10.0]} and job.config["seed"] == 0
    # a scheduled σ is not a per-member scaling: runs differing in noise.sigma stay apart
    sched = {**TINY, "method": "noise", "noise.schedule": "linear"}
    c = S.expand(S.parse_spec({"set": sched, "grid": {"noise.sigma": [0.1]}, "seeds": [0]}))
    d = S.expand(S.parse_spec({"set": sched, "grid": {"noise.sigma": [0.2]}, "seeds": [1]}))
    assert len(S.group(c + d)) == 2


def test_image_data_and_ensemble_false_are_not_grouped():
    images = {**TINY, "data.name": "digits", "net": "dcgan"}
    runs = S.expand(S.parse_spec({"set": images, "seeds": [0, 1]}))
    assert [j.is_ensemble for j in S.group(runs)] == [False, False]
    s = spec(seeds=[0, 1, 2], ensemble=False)
    assert [len(j.runs) for j in S.group(S.expand(s), s.ensemble)] == [1, 1, 1]
    s = spec(seeds=[0, 1, 2], ensemble=2)
    assert [len(j.runs) for j in S.group(S.expand(s), s.ensemble)] == [2, 1]


# ---- bad specs ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("data, field", [
    ({"grd": {}}, "spec: unknown key 'grd'"),
    ({"grid": {"optim.d.lrr": [1e-4]}}, "optim.d.lrr: unknown key"),
    ({"grid": {"method": ["r1", "nope"]}}, "method: unknown method 'nope'"),
    ({"grid": {"method": []}}, "grid.method: expected a non-empty list"),
    ({"grid": {"train.steps": [10, 10]}}, "grid.train.steps: duplicate"),
    ({"set": {"seed": 3}}, "set.seed:"),
    ({"seeds": [0, 0]}, "seeds: duplicate"),
    ({"seeds": {"count": 0}}, "seeds:"),
    ({"success": {"metric": "w1", "below": 1, "above": 0}}, "success: give exactly one threshold"),
    ({"success": {"metric": "w1", "below": 1, "hold": 0}}, "success.hold:"),
    ({"success": []}, "success: expected a condition or a non-empty list"),
    ({"success": [{"metric": "w1", "below": 1}, {"metric": "w1"}]}, "success[1]: give exactly one threshold"),
    ({"random": {"n": 2, "params": {"optim.d.lr": {"normal": [0, 1]}}}}, "random.params.optim.d.lr:"),
    ({"random": {"n": 2, "params": {"optim.d.lr": {"loguniform": [0, 1]}}}}, "random.params.optim.d.lr.loguniform"),
    ({"base": "no-such-config.yaml"}, "base: no config file"),
    ({"ensemble": "yes"}, "ensemble:"),
])
def test_bad_spec_is_one_line(data, field):
    with pytest.raises(UsageError) as err:
        S.expand(S.parse_spec(data))
    assert field in str(err.value) and "\n" not in str(err.value)


def test_bad_executor_and_workers(tmp_path):
    for kw, field in [({"executor": "dask"}, "--executor"), ({"workers": 0}, "--workers")]:
        with pytest.raises(UsageError, match=field):
            S.run_sweep(spec(), tmp_path, **kw)


def test_ray_missing_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(UsageError, match=r"Ray is not installed; pip install 'ganscope\[ray\]'"):
        S.make_pool("ray", Path("."), spec(), 1)


# ---- aggregation against a hand computation ----------------------------------------------------------------
T3 = 3.182446305284263  # Student t quantile 0.975 with 3 degrees of freedom


def test_mean_ci_by_hand():
    mean, half = S.mean_ci([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and half == pytest.approx(T3 * math.sqrt(5 / 3) / 2, rel=1e-12)
    assert math.isnan(S.mean_ci([2.0])[1])


def fake_run(out, name, final, history):
    d = out / "runs" / name
    d.mkdir(parents=True)
    (d / "metrics.jsonl").write_text("".join(json.dumps({"step": 10 * i, "w1": w}) + "\n"
                                             for i, w in enumerate(history, 1)))
    (d / "summary.json").write_text(json.dumps({"final": final}))


def test_aggregate_mean_ci_and_success_with_hold(tmp_path):
    runs = []
    # config a: w1 finals 1..4 (scaled), success needs w1 < 0.1 at the end and in the last 2 evaluations
    cases = [("a0", 0.08, [0.5, 0.09, 0.08], True), ("a1", 0.05, [0.05, 0.2, 0.05], False),
             ("a2", 0.05, [0.05], False), ("a3", 0.2, [0.01, 0.01, 0.2], False)]
    for (name, final, hist, _), k in zip(cases, [1, 2, 3, 4]):
        fake_run(tmp_path, name, {"w1": final, "modes": k, "collapsed": k > 2, "tag": "x"}, hist)
        runs.append({"name": name, "config": "A", "overrides": {"method": "r1"}, "status": "done"})
    fake_run(tmp_path, "b0", {"w1": 0.01, "modes": 8}, [0.01, 0.01])
    runs += [{"name": "b0", "config": "B", "overrides": {"method": "wgan-gp"}, "status": "done"},
             {"name": "b1", "config": "B", "overrides": {"method": "wgan-gp"}, "status": "failed"},
             {"name": "b2", "config": "B", "overrides": {"method": "wgan-gp"}, "status": "pending"}]
    success = {"metric": "w1", "below": 0.1, "hold": 2}
    (tmp_path / "sweep.json").write_text(json.dumps({"keys": ["method"], "success": success, "runs": runs}))
    a, b = S.aggregate(tmp_path)
    assert (a["method"], a["runs"], a["done"], a["failed"], a["success"]) == ("r1", 4, 4, 0, 0.25)
    assert a["modes_mean"] == 2.5 and a["modes_ci95"] == pytest.approx(T3 * math.sqrt(5 / 3) / 2)
    assert a["collapsed_mean"] == 0.5 and "tag_mean" not in a
    assert (b["runs"], b["done"], b["failed"], b["success"], b["w1_mean"]) == (3, 1, 1, 0.5, 0.01)
    assert math.isnan(b["w1_ci95"])
    csv_lines = (tmp_path / "results.csv").read_text().splitlines()
    assert csv_lines[0].startswith("config,method,runs,done,failed,success,w1_mean,w1_ci95")
    assert "| A | r1 | 4/4 | 0 | 25 % |" in (tmp_path / "results.md").read_text()
    with pytest.raises(UsageError, match="success.metric: 'fid'"):
        S.succeeded(tmp_path / "runs" / "a0", {"w1": 0.0}, {"metric": "fid", "below": 1, "hold": 1})


def test_a_success_rule_of_several_conditions_needs_all_of_them(tmp_path):
    fake_run(tmp_path, "r", {"w1": 0.05, "gsq": 0.5}, [0.05, 0.05])
    rows = [json.loads(line) for line in (tmp_path / "runs" / "r" / "metrics.jsonl").read_text().splitlines()]
    (tmp_path / "runs" / "r" / "metrics.jsonl").write_text("".join(
        json.dumps({**row, "gsq": g}) + "\n" for row, g in zip(rows, [0.5, 0.001])))
    w1_ok = {"metric": "w1", "below": 0.1, "hold": 2}
    final = {"w1": 0.05}  # gsq is logged only, like the engine's diagnostics
    assert S.succeeded(tmp_path / "runs" / "r", final, [w1_ok, {"metric": "gsq", "below": 0.01, "hold": 1}])
    assert not S.succeeded(tmp_path / "runs" / "r", final, [w1_ok, {"metric": "gsq", "below": 0.01, "hold": 2}])
    assert not S.succeeded(tmp_path / "runs" / "r", final, [w1_ok, {"metric": "gsq", "above": 0.01, "hold": 1}])
    spec = S.parse_spec({"base": "convergence2d", "success": [w1_ok, {"metric": "gsq", "below": 1e-2}]})
    assert spec.success == [w1_ok, {"metric": "gsq", "below": 0.01, "hold": 1}]


@pytest.mark.parametrize("k,n,low,high", [(8, 8, 0.6756, 1.0), (0, 8, 0.0, 0.3244), (12, 16, 0.5050, 0.8982),
                                          (4, 16, 0.1018, 0.4950)])
def test_wilson_interval_against_published_values(k, n, low, high):
    """Wilson 95 % intervals as tabulated by standard calculators (e.g. statsmodels proportion_confint
    method='wilson')."""
    got = S.wilson_ci(k, n)
    assert got == pytest.approx((low, high), abs=2e-4)


def test_run_job_records_an_exception(tmp_path):
    (run,) = S.expand(spec())
    bad = S.Job("runs/x", {**run.config, "data": {**run.config["data"], "name": "no-such-data"}}, ("x",))
    outcome = S.run_job(bad, tmp_path)
    assert outcome["rc"] == 1 and outcome["error"].startswith("UsageError:") and "\n" not in outcome["error"]


# ---- real sweeps (tiny) --------------------------------------------------------------------------------------
def write_spec(path, **kw):
    path.write_text(yaml.safe_dump({"set": dict(TINY), "success": {"metric": "w1", "below": 10, "hold": 2}, **kw}))
    return path


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """lr 1e-4 (fine) and 1e30 (diverges) × seeds 0, 1, 3: two ensembles and two single runs."""
    root = tmp_path_factory.mktemp("sweep")
    spec_path = write_spec(root / "spec.yaml", grid={"optim.d.lr": [1.0e-4, 1.0e+30]}, seeds=[0, 1, 3])
    state = S.run_sweep(spec_path, root / "out", workers=1)
    return spec_path, root / "out", state


def records(out):
    return {(r["overrides"]["optim.d.lr"], r["seed"]): r for r in json.loads((out / "sweep.json").read_text())["runs"]}


def test_a_failing_run_does_not_stop_the_sweep(swept):
    _, out, state = swept
    assert state.counts() == {"done": 3, "running": 0, "failed": 3, "pending": 0}
    rec = records(out)
    for seed in (0, 1, 3):
        assert rec[(1e-4, seed)]["status"] == "done" and rec[(1e-4, seed)]["wall_s"] > 0
        bad = rec[(1e30, seed)]
        assert bad["status"] == "failed" and bad["error"].startswith("exit 3: training diverged")
        assert bad["job"] == f"runs/{bad['name']}"  # the diverged ensemble was retried run by run
    assert rec[(1e-4, 0)]["job"].startswith("ensembles/") and rec[(1e-4, 3)]["job"].startswith("runs/")
    member = json.loads((out / "runs" / rec[(1e-4, 1)]["name"] / "summary.json").read_text())
    assert member["seed"] == 1 and member["member"] == 1 and "w1" in member["final"]
    row_ok, row_bad = S.aggregate(out)
    assert (row_ok["done"], row_ok["failed"], row_ok["success"]) == (3, 0, 1.0)
    assert (row_bad["done"], row_bad["failed"], row_bad["success"]) == (0, 3, 0.0)


def test_relaunch_resumes_a_killed_ensemble_and_skips_finished_runs(swept, tmp_path):
    spec_path, original, _ = swept
    out = tmp_path / "out"
    shutil.copytree(original, out)
    rec = records(out)
    ens = out / rec[(1e-4, 0)]["job"]
    finals = {}
    for seed in (0, 1):  # kill the ensemble at step 10: its last checkpoint, no summaries
        summary = out / "runs" / rec[(1e-4, seed)]["name"] / "summary.json"
        finals[seed] = json.loads(summary.read_text())["final"]
        summary.unlink()
    (ens / "summary.json").unlink()
    shutil.copy(ens / "checkpoints" / "step_000010.pt", ens / "checkpoints" / "last.pt")
    single = out / "runs" / rec[(1e-4, 3)]["name"] / "summary.json"
    stamp = single.stat().st_mtime_ns

    state = S.run_sweep(spec_path, out, workers=1)
    assert state.counts()["done"] == 3
    rec = records(out)
    assert single.stat().st_mtime_ns == stamp and rec[(1e-4, 3)]["attempts"] == 1  # not retrained
    assert rec[(1e-4, 0)]["attempts"] == 2 and rec[(1e30, 3)]["attempts"] == 2  # resumed / retried
    assert (ens / "train.log").read_text().count("resuming from checkpoints/last.pt") == 1
    for seed in (0, 1):  # an exact resume: the same final metrics as the uninterrupted run
        summary = out / "runs" / rec[(1e-4, seed)]["name"] / "summary.json"
        assert json.loads(summary.read_text())["final"] == finals[seed]


def test_several_sweeps_on_one_pool_equal_each_alone(swept, tmp_path):
    """``run_sweeps`` of the swept spec and a second one on 2 workers: each sweep's runs, records and results
    are those of ``run_sweep`` alone (the diverged ensemble retried run by run there too)."""
    spec_path, alone, _ = swept
    other = write_spec(tmp_path / "other.yaml", grid={"method": ["r1"]}, seeds=[5, 6])
    states = S.run_sweeps([(spec_path, tmp_path / "a"), (other, tmp_path / "b")], workers=2)
    assert [s.counts() for s in states] == [{"done": 3, "running": 0, "failed": 3, "pending": 0},
                                            {"done": 2, "running": 0, "failed": 0, "pending": 0}]
    together = records(tmp_path / "a")
    for key, rec in records(alone).items():
        assert (together[key]["status"], together[key]["job"]) == (rec["status"], rec["job"])
        if rec["status"] == "done":
            final = [json.loads((root / "runs" / rec["name"] / "summary.json").read_text())["final"]
                     for root in (alone, tmp_path / "a")]
            assert final[0] == final[1]
    assert (tmp_path / "b" / "results.csv").is_file() and (tmp_path / "a" / "results.md").is_file()
    again = S.run_sweeps([(spec_path, tmp_path / "a"), (other, tmp_path / "b")], workers=2)  # all done: nothing runs
    assert [s.counts()["done"] for s in again] == [3, 2]


def test_submitit_local_executor(tmp_path):
    spec_path = write_spec(tmp_path / "spec.yaml", seeds=[0], submitit={"cluster": "local", "timeout_min": 5})
    state = S.run_sweep(spec_path, tmp_path / "out", executor="submitit")
    assert state.counts()["done"] == 1
    assert list((tmp_path / "out" / "submitit").glob("*_0_log.out"))  # submitit's own job files
    import submitit

    assert isinstance(S.SubmititPool(tmp_path, {"cluster": "local"}).executor._executor, submitit.LocalExecutor)
    with pytest.raises(UsageError, match="^submitit: Unknown executor 'no' in parameter 'no_such'.$"):
        S.SubmititPool(tmp_path, {"cluster": "local", "no_such": 1})


# ---- command line ----------------------------------------------------------------------------------------------
def parser():
    p = _Parser(prog="ganscope")
    cli_sweep.register(p.add_subparsers(parser_class=_Parser))
    return p


def test_cli_dry_run_and_aggregate(tmp_path, capsys, swept):
    spec_path = write_spec(tmp_path / "spec.yaml", grid={"method": ["r1", "wgan-gp"]}, seeds=[0, 1, 2, 5])
    args = parser().parse_args(["sweep", str(spec_path), "--out", str(tmp_path / "out"), "--dry-run"])
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert "8 runs (0 done), 4 jobs to train: 2 ensembles, 2 single runs" in out
    assert "ensemble of 3, seeds 0-2" in out and not (tmp_path / "out").exists()
    args = parser().parse_args(["sweep", "--aggregate", str(swept[1])])
    assert args.run(args) == 0 and "| optim.d.lr |" in capsys.readouterr().out
    with pytest.raises(UsageError, match="--out"):
        args = parser().parse_args(["sweep", str(spec_path)])
        args.run(args)


def test_package_exports_and_old_register_alias():
    import importlib
    import pkgutil

    from ganscope.sweep import executors, jobs, results, run, spec, state

    homes = {spec: ["Spec", "load_spec", "parse_spec", "SPEC_KEYS"], jobs: ["RunSpec", "expand", "Job", "group"],
             executors: ["LocalPool", "SubmititPool", "RayPool", "make_pool", "run_job", "split_ensemble"],
             results: ["mean_ci", "succeeded", "aggregate", "markdown"], state: ["SweepState"],
             run: ["run_sweep", "run_sweeps", "plan"]}
    for module, names in homes.items():
        for name in names:
            assert getattr(S, name) is getattr(module, name), name
    assert S.register is cli_sweep.register  # deprecated alias, removed in 0.3
    for info in pkgutil.iter_modules(S.__path__, "ganscope.sweep."):  # the library holds no argparse
        source = open(importlib.import_module(info.name).__file__, encoding="utf-8").read()
        assert "argparse" not in source and "add_argument" not in source, info.name


def test_shipped_spec_by_name_from_any_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no spec file here: the name is a shipped spec
    args = parser().parse_args(["sweep", "toy2d_methods", "--out", str(tmp_path / "out"), "--dry-run"])
    assert args.run(args) == 0
    assert "9 runs (0 done), 3 jobs to train: 3 ensembles" in capsys.readouterr().out
    assert S.load_spec("toy2d_methods.yaml").base_file.endswith("toy2d.yaml")
    with pytest.raises(UsageError, match=r"^spec: no such file or shipped sweep spec 'nope'; shipped: .*toy2d_methods"):
        S.load_spec("nope")


def test_base_by_shipped_name_and_beside_the_spec(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Path(S.parse_spec({"base": "toy2d"}).base_file).parent.name == "configs"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "toy2d.yaml").write_text("seed: 7\n")  # beside the spec wins over the shipped one
    assert S.parse_spec({"base": "toy2d.yaml"}, root=tmp_path / "sub").seeds == [7]
    with pytest.raises(UsageError, match=r"^base: no config file 'nope'.*shipped \(.*toy2d"):
        S.parse_spec({"base": "nope"})
