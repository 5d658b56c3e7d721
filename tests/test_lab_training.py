"""Pane 2 on a real server (uvicorn in a thread): frames stream as server-sent events, W1 falls for R1 on
8 Gaussians, a closed stream stops its training thread, an unwatched one stops itself, and the controls act."""
import json
import time

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from ganscope.lab import training  # noqa: E402
from ganscope.lab.app import create_app  # noqa: E402
from ganscope.lab.server import running  # noqa: E402

# The fixed criterion, decided before running: R1 (the r1 preset's RMSProp at lr 1e-3) on 8gaussians, seed 0, a short run;
# the W1 of the last frame at or past step STEPS is below half the W1 at step 0.
STEPS = 100
FACTOR = 0.5
WAIT_S = 120  # a generous bound on waiting for the busy machine; never asserted as a duration


@pytest.fixture(scope="module")
def server():
    app = create_app(cap=2, idle_s=5.0)
    with running(app) as url:
        yield url, app


def frames(response):
    """The frames of an SSE response, parsed."""
    event = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == "frame":
            yield json.loads(line[6:])


def wait_until(predicate, what):
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.05)


def test_frames_stream_w1_falls_and_a_closed_stream_stops_the_training(server):
    url, app = server
    with httpx.Client(base_url=url, timeout=WAIT_S) as client:
        created = client.post("/api/train", json={"preset": "r1", "data": "8gaussians", "lr_g": 1e-3, "lr_d": 1e-3})
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        session = app.state.trainings.get(sid)
        seen = []
        with client.stream("GET", f"/api/train/{sid}/stream") as response:
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
            for frame in frames(response):
                if not seen:
                    assert client.post(f"/api/train/{sid}", json={"action": "play"}).json()["applied"] == "play"
                seen.append(frame)
                if frame["step"] >= STEPS and frame["metrics"]:
                    break
        first, last = seen[0], seen[-1]
        assert first["step"] == 0 and first["metrics"]["w1"] > 0.5  # the untrained generator is far from the data
        assert last["metrics"]["w1"] < FACTOR * first["metrics"]["w1"], [f["metrics"] and f["metrics"]["w1"] for f in seen]
        assert len(first["real"]) == len(first["fake"]) == training.SAMPLES
        assert len(first["surface"]["values"]) == training.GRID ** 2 and len(first["arrows"][0]) == 4
        assert {"w1", "modes_covered", "grad_sq_real", "grad_sq_fake", "speed_g", "speed_d"} <= set(last["metrics"])
        assert first["n_modes"] == 8 and last["playing"] and last["settings"]["preset"] == "r1"
        steps = [f["step"] for f in seen]
        assert steps == sorted(steps) and len(seen) >= 3
        # the stream is closed: its training stops, and its place under the cap is free again
        wait_until(lambda: not session.alive, "the training thread to stop")
        assert sid not in app.state.trainings.sessions
        assert client.post(f"/api/train/{sid}", json={"action": "play"}).status_code == 404


def test_the_cap_refuses_politely(server):
    url, app = server
    with httpx.Client(base_url=url, timeout=WAIT_S) as client:
        ids = [client.post("/api/train", json={"preset": "nonsaturating"}) for _ in range(2)]
        assert [r.status_code for r in ids] == [201, 201]
        refused = client.post("/api/train", json={})
        assert refused.status_code == 429 and "cap" in refused.json()["error"]
        for r in ids:
            assert client.delete(f"/api/train/{r.json()['id']}").status_code == 200
        assert not app.state.trainings.sessions


def test_step_reset_and_live_settings():
    """Paused, each `step` makes one generator step and one frame; a live setting keeps the step count and the
    weights, a reset one starts again at step 0 with new data."""
    trainings = training.Trainings(cap=1, idle_s=30.0)
    session = trainings.create({"preset": "r1", "data": "25gaussians", "seed": 3})
    try:
        wait_until(lambda: session.latest()[1] is not None, "the first frame")
        assert session.latest()[1]["step"] == 0 and session.latest()[1]["n_modes"] == 25
        for _ in range(3):
            session.control("step")
        wait_until(lambda: session.latest()[1]["step"] == 3, "three single steps")
        assert not session.latest()[1]["playing"]
        before = [p.detach().clone() for p in _training_params(session)]
        assert session.control("set", {"lr_g": 5e-4, "weight": 2.0, "sigma": 0.05}) == "live"
        wait_until(lambda: session.latest()[1]["settings"]["weight"] == 2.0, "the live setting")
        frame = session.latest()[1]
        assert frame["step"] == 3 and frame["settings"]["lr_g"] == 5e-4 and frame["settings"]["sigma"] == 0.05
        assert all((a == b).all() for a, b in zip(before, _training_params(session)))  # same weights kept
        assert session.control("set", {"data": "swissroll"}) == "reset"
        wait_until(lambda: session.latest()[1]["settings"]["data"] == "swissroll", "the reset")
        frame = session.latest()[1]
        assert frame["step"] == 0 and frame["n_modes"] is None and frame["settings"]["weight"] == 2.0
        with pytest.raises(training.Full):
            trainings.create({})
    finally:
        session.stop()
    assert not session.alive and not trainings.sessions


def _training_params(session):
    """The generator's parameters of the session's current training (paused: nothing moves them)."""
    return list(session.training.gen.net.parameters())


def test_drawn_points_and_an_unwatched_training_stops_itself():
    points = [[1.0 + 0.01 * i, -1.0] for i in range(20)]
    trainings = training.Trainings(cap=1, idle_s=1.0)
    session = trainings.create({"data": "drawn", "points": points, "preset": "nonsaturating"})
    wait_until(lambda: session.frame is not None, "the first frame")
    real = session.frame["real"]
    assert all(abs(x - 1.1) < 0.3 and abs(y + 1.0) < 0.2 for x, y in real)  # the held-out set is the drawn one
    assert session.frame["n_modes"] is None and session.frame["metrics"]["w1"] > 0
    wait_until(lambda: not session.alive, "the unwatched training to stop")  # nobody polls: idle_s passes
    assert not trainings.sessions


def test_one_stream_per_session(server):
    url, app = server
    with httpx.Client(base_url=url, timeout=WAIT_S) as client:
        sid = client.post("/api/train", json={"preset": "nonsaturating"}).json()["id"]
        with client.stream("GET", f"/api/train/{sid}/stream") as response:
            stream = frames(response)  # held: a dropped generator would close the response
            next(stream)
            second = client.get(f"/api/train/{sid}/stream")
            assert second.status_code == 409 and second.json()["error"].startswith("id:")
        session = app.state.trainings.sessions.get(sid)
        if session is not None:
            wait_until(lambda: not session.alive, "the training to stop")


def test_an_unforeseen_error_ends_the_training_with_a_message(monkeypatch):
    def broken(self):
        raise RuntimeError("the engine broke")

    monkeypatch.setattr(training.Training, "train_step", broken)
    trainings = training.Trainings(cap=1, idle_s=30.0)
    session = trainings.create({})
    wait_until(lambda: session.latest()[1] is not None, "the first frame")
    session.control("play")
    wait_until(lambda: not session.alive, "the broken training to end")
    assert session.error == "training stopped: RuntimeError: the engine broke" and not trainings.sessions
