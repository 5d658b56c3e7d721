"""The lab's JSON API without a browser (Starlette's TestClient): pane 1 equals `ganscope dirac --json` for the
same settings, bad input is a 4xx JSON message (never a traceback), every response has the content-security policy."""
import json

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")
from starlette.testclient import TestClient  # noqa: E402

from ganscope.cli import main  # noqa: E402
from ganscope.lab import dirac_api  # noqa: E402
from ganscope.lab.app import CSP, create_app  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(cap=2, idle_s=1.0)) as c:
        yield c


def cli_json(capsys, args):
    capsys.readouterr()
    assert main(["dirac", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# (the page's query, the same settings as `ganscope dirac` arguments): each regulariser, both schemes and orders
CASES = [
    ({}, []),
    ({"loss": "standard", "reg": "r1", "gamma": "0.3", "scheme": "altgd", "h": "0.1"},
     ["--loss", "standard", "--reg", "r1", "--gamma", "0.3", "--scheme", "altgd", "--h", "0.1"]),
    ({"reg": "r2", "gamma": "1.5", "h": "0.5", "steps": "300"},
     ["--reg", "r2", "--gamma", "1.5", "--h", "0.5", "--steps", "300"]),
    ({"loss": "nonsaturating", "reg": "noise", "sigma": "0.9", "scheme": "altgd", "order": "d-first", "n_d": "3"},
     ["--loss", "nonsaturating", "--reg", "noise", "--sigma", "0.9", "--scheme", "altgd", "--order", "d-first",
      "--n-d", "3"]),
    ({"reg": "consensus", "gamma": "0.5", "h": "0.2", "theta": "-0.5", "psi": "2"},
     ["--reg", "consensus", "--gamma", "0.5", "--h", "0.2", "--start", "-0.5", "2"]),
    ({"loss": "wgan", "reg": "wgan-gp", "gamma": "0.7", "target": "1", "scheme": "altgd", "n_g": "2"},
     ["--loss", "wgan", "--reg", "wgan-gp", "--gamma", "0.7", "--target", "1", "--scheme", "altgd", "--n-g", "2"]),
    ({"loss": "wgan", "reg": "gp0", "gamma": "0.4"}, ["--loss", "wgan", "--reg", "gp0", "--gamma", "0.4"]),
    ({"loss": "wgan", "reg": "clip", "clip": "0.3", "h": "0.05", "steps": "500"},
     ["--loss", "wgan", "--reg", "clip", "--clip", "0.3", "--h", "0.05", "--steps", "500"]),
    ({"loss": "minimax", "reg": "none", "scheme": "altgd", "h": "1.2"},
     ["--scheme", "altgd", "--h", "1.2"]),
]


@pytest.mark.parametrize("query, args", CASES)
def test_dirac_api_equals_the_cli(client, capsys, query, args):
    res = client.get("/api/dirac", params=query)
    assert res.status_code == 200, res.text
    page = res.json()
    assert page["analysis"] == cli_json(capsys, args)
    # the command the page shows prints the same object too
    shown = page["command"].split()[2:-1]
    assert cli_json(capsys, shown) == page["analysis"]
    assert len(page["trajectory"]) == page["analysis"]["steps"] + 1
    assert page["trajectory"][0] == page["analysis"]["start"]


def test_dirac_view_data(client):
    page = client.get("/api/dirac", params={"reg": "r1", "gamma": "0.5", "scheme": "simgd", "h": "0.1"}).json()
    m = page["map"]
    assert m["param"] == "gamma" and m["current"] == 0.5 and len(m["radius"]) == len(m["values"]) == dirac_api.MAP_VALUES
    assert len(m["radius"][0]) == len(m["hs"]) == len(dirac_api.MAP_HS)
    i = m["values"].index(0.5)  # the current γ's row: its bound is the analysis' max_step
    assert m["bound"][i] == pytest.approx(page["analysis"]["max_step"], rel=1e-12)
    below = [r for h, r in zip(m["hs"], m["radius"][i]) if h < 0.99 * m["bound"][i]]
    above = [r for h, r in zip(m["hs"], m["radius"][i]) if h > 1.01 * m["bound"][i]]
    assert below and above and max(below) < 1 < min(above)  # the map and the bound agree
    assert len(page["field"]["arrows"]) == dirac_api.FIELD_POINTS ** 2 and page["clip"] is None
    clip = client.get("/api/dirac", params={"loss": "wgan", "reg": "clip", "clip": "0.25"}).json()
    assert clip["clip"] == 0.25 and clip["map"]["param"] is None and len(clip["map"]["radius"]) == 1
    assert client.get("/api/dirac", params={"loss": "wgan", "reg": "wgan-gp"}).json()["map"] is None


@pytest.mark.parametrize("query, field", [
    ({"loss": "nope"}, "--loss"), ({"reg": "l2"}, "--reg"), ({"reg": "r1", "gamma": "-0.1"}, "gamma"),
    ({"h": "0"}, "h"), ({"h": "-1"}, "h"), ({"h": "abc"}, "h"), ({"h": "nan"}, "h"), ({"h": "11"}, "h"),
    ({"steps": "1.5"}, "steps"), ({"steps": "100000"}, "steps"), ({"scheme": "adam"}, "--scheme"),
    ({"n_d": "2"}, "n_g/n_d"), ({"order": "d-first"}, "order"), ({"scheme": "altgd", "order": "x"}, "--order"),
    ({"reg": "none", "sigma": "1"}, "--sigma"), ({"colour": "red"}, "colour"), ({"theta": "1e9"}, "theta"),
])
def test_dirac_bad_input_is_a_clear_400(client, query, field):
    res = client.get("/api/dirac", params=query)
    assert res.status_code == 400
    body = res.json()
    assert set(body) == {"error"} and body["error"].startswith(f"{field}:") and "Traceback" not in res.text


BAD_TRAININGS = [
    ({"data": "moons"}, "data"), ({"preset": "adam"}, "preset"), ({"data": "drawn"}, "points"),
    ({"data": "drawn", "points": "1,2;3,4"}, "points"), ({"data": "drawn", "points": [[0, 0], [1, 1]]}, "points"),
    ({"data": "drawn", "points": [[0, 0], [1, 1], [1, "x"]]}, "points"),
    ({"data": "drawn", "points": [[0, 0], [1, 1], [1, 2, 3]]}, "points"),
    ({"data": "drawn", "points": [[0, 0], [1, 1], [9, 0]]}, "points"),
    ({"data": "drawn", "points": [[0.1 * (i % 50), 0.0] for i in range(2001)]}, "points"),
    ({"data": "8gaussians", "points": [[0, 0], [1, 1], [1, 2]]}, "points"),
    ({"lr_g": 0}, "lr_g"), ({"lr_d": -1}, "lr_d"), ({"weight": -1}, "weight"), ({"sigma": "big"}, "sigma"),
    ({"n_d": 0}, "n_d"), ({"n_d": 2.5}, "n_d"), ({"scheme": "adam"}, "scheme"), ({"seed": -3}, "seed"),
    ({"preset": "minimax", "weight": 3}, "weight"), ({"scheme": "simgd", "n_d": 2}, "game.n_d"),
    ({"speed": 3}, "speed"),
]


@pytest.mark.parametrize("settings, field", BAD_TRAININGS)
def test_training_bad_input_is_a_clear_400(client, settings, field):
    res = client.post("/api/train", json=settings)
    assert res.status_code == 400, res.text
    assert res.json()["error"].startswith(f"{field}:") and "Traceback" not in res.text


def test_malformed_requests(client):
    for body in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        res = client.post("/api/train", content=body, headers={"content-type": "application/json"})
        assert res.status_code == 400 and res.json()["error"].startswith(("body:", "settings:"))
    assert client.post("/api/train", content=b" " * 1_000_001, headers={"content-type": "application/json"}
                       ).status_code == 400
    for kind in (None, "text/plain", "application/x-www-form-urlencoded"):  # what a page elsewhere could send
        res = client.post("/api/train", content=b'{"preset": "r1"}', headers={"content-type": kind} if kind else {})
        assert res.status_code == 415 and res.json()["error"].startswith("content-type:")
    assert client.post("/api/train/0123456789abcdef", content=b'{"action": "play"}',
                       headers={"content-type": "text/plain"}).status_code in (404, 415)
    res = client.post("/api/train/0123456789abcdef", json={"action": "play"})
    assert res.status_code == 404 and res.json()["error"].startswith("id:")
    assert client.get("/api/train/nope/stream").status_code == 404
    assert client.get("/nowhere").status_code == 404 and "error" in client.get("/nowhere").json()
    assert client.put("/api/train").status_code == 405


def test_page_and_headers(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and 'src="/static/lab.js"' in page.text
    for path in ("/", "/static/lab.js", "/static/lab.css", "/api/dirac", "/api/options", "/nowhere"):
        assert client.get(path).headers["content-security-policy"] == CSP
    assert "default-src 'none'" in CSP and "connect-src 'self'" in CSP and "unsafe" not in CSP
    for name in ("index.html", "lab.js", "lab.css"):  # nothing would leave the machine
        text = client.get("/" if name == "index.html" else f"/static/{name}").text
        assert "http://" not in text and "https://" not in text and "//cdn" not in text
    options = client.get("/api/options").json()
    assert "drawn" in options["data"] and "r1" in options["presets"] and options["cap"] == 2
    assert options["presets"]["r1"]["weight"] == 20.0 and options["presets"]["minimax"]["weight"] is None


def test_controls_and_the_cap(client):
    """cap=2: a third training is refused with 429; a stopped one frees its place; controls are checked."""
    first = client.post("/api/train", json={"preset": "r1"})
    second = client.post("/api/train", json={"preset": "nonsaturating", "data": "25gaussians"})
    assert first.status_code == second.status_code == 201
    third = client.post("/api/train", json={})
    assert third.status_code == 429 and third.json()["error"].startswith("trainings:")
    sid = first.json()["id"]
    assert client.post(f"/api/train/{sid}", json={"action": "set", "settings": {"lr_g": 1e-3}}).json() == \
        {"ok": True, "applied": "live"}
    assert client.post(f"/api/train/{sid}", json={"action": "set", "settings": {"data": "swissroll"}}).json()[
        "applied"] == "reset"
    bad = client.post(f"/api/train/{sid}", json={"action": "fly"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("action:")
    bad = client.post(f"/api/train/{sid}", json={"action": "set", "settings": {"scheme": "simgd", "n_d": 3}})
    assert bad.status_code == 400 and bad.json()["error"].startswith("game.n_d:")
    assert client.post(f"/api/train/{sid}", json=[1]).status_code == 400
    assert client.delete(f"/api/train/{sid}").json() == {"ok": True}
    again = client.post("/api/train", json={})
    assert again.status_code == 201
    for s in (second, again):
        client.delete(f"/api/train/{s.json()['id']}")


def test_lab_command_refuses_a_port_in_use(capsys):
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        capsys.readouterr()
        assert main(["lab", "--no-browser", "--port", str(port)]) == 2
        err = capsys.readouterr().err
        assert err == f"error: --port: port {port} on 127.0.0.1 is in use; choose another with --port\n"
    finally:
        taken.close()
    assert main(["lab", "--port", "70000"]) == 2
    assert capsys.readouterr().err.startswith("error: --port: must be an integer in [0, 65535]")
    assert main(["lab", "--host", "192.0.2.1", "--no-browser"]) == 2  # TEST-NET-1: no interface of ours (no DNS)
    assert capsys.readouterr().err.startswith("error: --host/--port: cannot listen on 192.0.2.1:8765")


def test_only_the_lab_host_names_are_answered_when_asked():
    """serve() passes the loopback names: a page elsewhere reaching 127.0.0.1 by a rebound DNS name is refused."""
    from ganscope.lab.server import LOOPBACK_NAMES

    with TestClient(create_app(allowed_hosts=LOOPBACK_NAMES), base_url="http://127.0.0.1:8765") as c:
        assert c.get("/api/options").status_code == 200
        assert c.get("/api/options", headers={"host": "localhost:8765"}).status_code == 200
        assert c.get("/api/options", headers={"host": "evil.example:8765"}).status_code == 400
