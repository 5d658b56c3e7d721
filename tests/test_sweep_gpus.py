"""Sweeps on GPUs: the placement of runs on GPU slots, the GPU requests of submitit and Ray jobs, the torchrun
environment of a rank, and the local pool's path with a faked set of GPUs (no GPU is needed)."""
import multiprocessing as mp
import subprocess
import sys

import pytest
import yaml

from ganscope import sweep as S
from ganscope.errors import UsageError
from ganscope.sweep import gpus as G

TINY = {"train.steps": 10, "model.g_width": 8, "model.d_width": 8, "data.batch_size": 32, "data.eval_samples": 100,
        "train.eval_every": 10, "train.log_every": 10, "checkpoint.every": 10, "train.plots": False,
        "train.diagnostics": False}


# ---- placement ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gpus, per_run, slots", [
    (["0", "1", "2", "3"], 1, [["0"], ["1"], ["2"], ["3"]]),
    (["0", "1", "2", "3"], 2, [["0", "1"], ["2", "3"]]),
    (["0", "1", "2", "3", "4"], 2, [["0", "1"], ["2", "3"]]),  # the fifth stays idle
    (["3", "5", "6"], 3, [["3", "5", "6"]]),  # the ids the parent may use, not 0..n-1
    ([], 1, []),
])
def test_gpu_slots_cut_the_visible_gpus_into_consecutive_groups(gpus, per_run, slots):
    assert G.gpu_slots(gpus, per_run) == slots


def test_gpu_slots_refuse_more_gpus_than_visible_and_bad_counts():
    with pytest.raises(UsageError, match=r"^--gpus-per-run: 3 GPUs per run, but only 2 visible \(0,1\)$"):
        G.gpu_slots(["0", "1"], 3)
    for bad in (0, -1, True, 1.5):
        with pytest.raises(UsageError, match="^--gpus-per-run: must be an integer >= 1"):
            G.gpu_slots(["0"], bad)


def test_local_slots_default_to_one_run_per_gpu_and_keep_cpu_machines_as_they_are():
    assert G.local_slots(None, ["0", "1"]) == [["0"], ["1"]]
    assert G.local_slots(2, ["0", "1"]) == [["0", "1"]]
    assert G.local_slots(0, ["0", "1"]) == []  # CPU workers that see no GPU
    assert G.local_slots(None, []) is None and G.local_slots(0, []) is None  # no GPU: the environment untouched
    with pytest.raises(UsageError, match="^--gpus-per-run: 1 GPUs per run asked for, but no GPU is visible"):
        G.local_slots(1, [])


@pytest.mark.parametrize("env, ids", [("3,5", ["3", "5"]), ("", []), ("-1", []), (" 0 , 2 ", ["0", "2"])])
def test_visible_gpus_follow_cuda_visible_devices(monkeypatch, env, ids):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", env)
    assert G.visible_gpus() == ids


def test_visible_gpus_without_the_variable_count_torch_devices(monkeypatch):
    import torch

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert G.visible_gpus() == ["0", "1", "2"]
    assert G.slot_env(["0", "1"]) == {"CUDA_VISIBLE_DEVICES": "0,1"} and G.slot_env([]) == {"CUDA_VISIBLE_DEVICES": ""}


def test_local_pool_sizes_itself_by_its_slots():
    pool = S.LocalPool(8, [["0", "1"], ["2", "3"]])
    try:
        assert (pool.workers, pool.nproc) == (2, 2)  # one worker per slot; a run is 2 ranks
        assert pool.threads >= 1
    finally:
        pool.close()
    pool = S.LocalPool(3, [])  # gpus-per-run 0 on a GPU machine: CPU workers that see no GPU
    try:
        assert (pool.workers, pool.nproc, pool.threads, pool.slots) == (3, 1, 1, [[], [], []])
    finally:
        pool.close()


# ---- the local executor with faked GPUs --------------------------------------------------------------------------
def test_local_sweep_places_one_run_per_faked_gpu(tmp_path, monkeypatch):
    """Two fake GPUs (CUDA_VISIBLE_DEVICES=0,1 on a CPU build: torch still trains on the CPU): each run's worker
    owns one of them, and the runs finish as on a CPU machine. The workers are forked from the server here, to
    keep the test short; real GPU workers are spawned (the next test), by the same slot logic."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setattr(S.LocalPool, "gpu_start", "forkserver" if "forkserver" in mp.get_all_start_methods()
                        else "spawn")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"set": dict(TINY), "seeds": [0, 1], "ensemble": False}))
    log = tmp_path / "driver.log"
    with open(log, "w") as stream:
        state = S.run_sweep(spec, tmp_path / "out", log=stream)
    assert state.counts()["done"] == 2
    assert "sweep: 2 GPU slots (0 1), 2 at a time" in log.read_text()
    placed = []
    for run_dir in (tmp_path / "out" / "runs").iterdir():
        first = (run_dir / "train.log").read_text().splitlines()[0]
        assert first.startswith("sweep: starting on CUDA_VISIBLE_DEVICES=")
        placed.append(first.rsplit("=", 1)[1])
    assert len(placed) == 2 and set(placed) <= {"0", "1"}  # each worker sees exactly one of the two


def test_run_job_with_several_gpus_resumes_the_run_under_torchrun(tmp_path, monkeypatch):
    (run,) = S.expand(S.parse_spec({"set": dict(TINY)}))
    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    outcome = S.run_job(S.Job("runs/x", run.config, ("x",)), tmp_path, nproc=2)
    assert outcome["rc"] == 0 and outcome["error"] is None
    assert calls == [[sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                      "-m", "ganscope", "train", "--resume", str(tmp_path / "runs" / "x")]]
    assert (tmp_path / "runs" / "x" / "config.yaml").exists()  # written before the ranks start
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1))
    outcome = S.run_job(S.Job("runs/y", run.config, ("y",)), tmp_path, nproc=2)
    assert outcome["rc"] == 1 and outcome["error"].startswith("exit 1: see ")


def test_a_rank_other_than_0_writes_only_its_own_log(tmp_path, monkeypatch):
    (run,) = S.expand(S.parse_spec({"set": dict(TINY)}))
    bad = S.Job("runs/x", {**run.config, "data": {**run.config["data"], "name": "no-such-data"}}, ("x",))
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    outcome = S.run_job(bad, tmp_path)
    out = tmp_path / "runs" / "x"
    assert outcome["rc"] == 1 and sorted(p.name for p in out.iterdir()) == ["train.rank1.log"]
    assert "as rank 1 of 2" in (out / "train.rank1.log").read_text()


# ---- submitit and Ray ------------------------------------------------------------------------------------------
def test_submitit_jobs_ask_for_gpus_and_one_task_per_gpu(tmp_path):
    pool = S.SubmititPool(tmp_path, {"cluster": "debug", "timeout_min": 30}, gpus_per_run=4)
    params = pool.executor._executor.parameters
    assert (params["gpus_per_node"], params["tasks_per_node"], params["nodes"], params["timeout_min"]) == (4, 4, 1, 30)
    assert pool.ranks == 4
    plain = S.SubmititPool(tmp_path, {"cluster": "debug"})
    assert "gpus_per_node" not in plain.executor._executor.parameters and plain.ranks == 1
    with pytest.raises(UsageError, match="^--gpus-per-run: the spec's submitit mapping also sets gpus_per_node"):
        S.SubmititPool(tmp_path, {"cluster": "debug", "gpus_per_node": 2}, gpus_per_run=2)


def test_the_sbatch_script_requests_the_gpus_and_tasks(tmp_path, monkeypatch):
    """The SLURM script submitit would hand to sbatch (srun faked present: no cluster here)."""
    import submitit

    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", classmethod(lambda cls: 1))
    pool = S.SubmititPool(tmp_path, {"cluster": "slurm", "slurm_partition": "gpu", "timeout_min": 60}, 2)
    text = pool.executor._executor._make_submission_file_text("python -u -m submitit.core._submit X", "uid")
    for line in ("#SBATCH --gpus-per-node=2", "#SBATCH --ntasks-per-node=2", "#SBATCH --nodes=1",
                 "#SBATCH --partition=gpu", "#SBATCH --time=60"):
        assert line in text, line


def test_a_multi_task_job_runs_each_task_as_a_rank(tmp_path, monkeypatch):
    pool = S.SubmititPool(tmp_path, {"cluster": "debug"}, gpus_per_run=2)
    submitted = []
    monkeypatch.setattr(pool.executor, "submit", lambda fn, *args: submitted.append(fn))
    pool.submit(S.Job("runs/x", {}, ("x",)), tmp_path)
    assert submitted == [S.run_rank]


def test_torchrun_env_of_a_rank():
    env = G.torchrun_env(global_rank=5, local_rank=1, num_tasks=8, num_nodes=2, master_addr="node07", job_id="4242")
    assert {k: env[k] for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR")} == {
        "RANK": "5", "LOCAL_RANK": "1", "WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "4", "MASTER_ADDR": "node07"}
    other = G.torchrun_env(0, 0, 8, 2, "node07", "4242")
    assert other["MASTER_PORT"] == env["MASTER_PORT"] and 20000 <= int(env["MASTER_PORT"]) <= 60000
    assert G.torchrun_env(0, 0, 8, 2, "node07", "4243")["MASTER_PORT"] != env["MASTER_PORT"]


def test_ray_tasks_ask_for_gpus():
    assert G.ray_gpus({"num_cpus": 1}, 2) == {"num_cpus": 2, "num_gpus": 2}
    assert G.ray_gpus({"num_cpus": 4}, 1) == {"num_cpus": 4, "num_gpus": 1}
    assert G.ray_gpus({"num_cpus": 1}, None) == {"num_cpus": 1} == G.ray_gpus({"num_cpus": 1}, 0)
    with pytest.raises(UsageError, match="^--gpus-per-run: the spec's ray mapping also sets num_gpus"):
        G.ray_gpus({"num_gpus": 1}, 2)


def test_bad_gpus_per_run_is_one_line(tmp_path):
    with pytest.raises(UsageError, match="^--gpus-per-run: must be an integer >= 0, got -1$"):
        S.run_sweep(S.parse_spec({"set": dict(TINY)}), tmp_path / "out", gpus_per_run=-1)


def test_run_rank_exports_the_tasks_place_then_runs_the_job(tmp_path, monkeypatch):
    import types

    import submitit

    from ganscope.sweep import executors

    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.setenv(key, "unset")  # restored after the test
    place = types.SimpleNamespace(global_rank=3, local_rank=1, num_tasks=4, num_nodes=2, hostnames=["n1", "n2"],
                                  job_id="77")
    monkeypatch.setattr(submitit, "JobEnvironment", lambda: place)
    seen = {}
    monkeypatch.setattr(executors, "run_job", lambda job, root: seen.update(
        {k: executors.os.environ[k] for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR")}) or {"rc": 0})
    assert S.run_rank(S.Job("runs/x", {}, ("x",)), tmp_path) == {"rc": 0}
    assert seen == {"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4", "MASTER_ADDR": "n1"}


def _visible():
    import os

    return os.environ["CUDA_VISIBLE_DEVICES"], os.environ["OMP_NUM_THREADS"]


def test_gpu_workers_are_spawned_and_each_sees_its_slot():
    gpu, cpu = S.LocalPool(1, [["3", "5"]]), S.LocalPool(2)
    try:
        assert gpu.context.get_start_method() == "spawn"  # no CUDA state of another process
        if "forkserver" in mp.get_all_start_methods():
            assert cpu.context.get_start_method() == "forkserver"
        assert gpu.pool.submit(_visible).result(timeout=120) == ("3,5", str(gpu.threads))
    finally:
        gpu.close()
        cpu.close()


def _engine_preloaded():
    import sys

    return "ganscope.train" in sys.modules and "ganscope.plots" in sys.modules


@pytest.mark.skipif("forkserver" not in mp.get_all_start_methods(), reason="no forkserver on this platform")
def test_every_cpu_pool_forks_from_a_server_with_the_engine_imported():
    """Whichever pool starts the process's one forkserver (a sweep's, ``reproduce``'s lane or its workers),
    the server imports ``PRELOAD``, so a worker starts without importing torch and the engine itself."""
    from concurrent.futures import ProcessPoolExecutor

    assert S.cpu_context().get_start_method() == "forkserver"
    with ProcessPoolExecutor(1, mp_context=S.cpu_context()) as pool:
        assert pool.submit(_engine_preloaded).result(timeout=120)
