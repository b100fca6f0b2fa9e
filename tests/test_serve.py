"""`cpt serve` against real clients: a uvicorn server on 127.0.0.1, the official openai
package and httpx, tiny real models (and the real all-MiniLM-L6-v2)."""

import base64
import json
import re
import socket
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import openai
import pytest

from cpt_core.errors import CptError
from cpt_core.index.build import build_index
from cpt_core.model.embedder import Embedder
from cpt_core.model.encoders import load_encoder
from cpt_core.pipeline.registry import ModelRecord, Registry
from cpt_core.serve.backend import Backend
from cpt_core.serve.dynamic_batching import Batcher, Item
from cpt_core.serve.server import build_app
from cpt_core.serve.settings import ServeSettings
from tests.conftest import make_tiny_model
from tests.serving import LiveServer

LIMIT = ServeSettings().max_body_bytes  # the default body limit

TEXTS = [
    "Return the sum of two numbers.",
    "def add(a, b): return a + b",
    "The quick brown fox jumps over the lazy dog, again and again, until the dog wakes up.",
    "fox",
]
F32 = {"dtype": "float32"}


def serve(model, keys=(), index=None, registry=None, name="tiny", **settings):
    """A live server over `build_app` (what `cpt serve` runs), float32 unless told."""
    app = build_app(
        None if registry else str(model),
        ServeSettings(**{**F32, **settings}),
        [k.encode() for k in keys],
        str(index) if index else None,
        registry,
        name,
    )
    return LiveServer(app)


@pytest.fixture(scope="module")
def server(tiny_model):
    with serve(tiny_model) as live:
        yield live


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def reference(tiny_model):
    return Embedder.from_pretrained(tiny_model, dtype="float32")


def vectors(response) -> np.ndarray:
    return np.array([d.embedding for d in response.data], dtype=np.float32)


def test_openai_client_default_base64_string_and_list(client, reference):
    one = client.embeddings.create(model="tiny", input=TEXTS[0])  # the SDK asks for base64
    assert len(one.data) == 1 and one.data[0].index == 0 and one.model.startswith("tiny@")
    np.testing.assert_allclose(vectors(one), reference.encode(TEXTS[:1]), atol=1e-5)
    many = client.embeddings.create(model="tiny", input=TEXTS, encoding_format="float")
    np.testing.assert_allclose(vectors(many), reference.encode(TEXTS), atol=1e-5)
    assert [d.index for d in many.data] == [0, 1, 2, 3]
    tokens = sum(len(s) for s in reference.encoder.tokenizer.encode(TEXTS, "document"))
    assert many.usage.prompt_tokens == many.usage.total_tokens == tokens


def test_base64_is_little_endian_float32(server, reference):
    body = {"model": "tiny", "input": ["fox"], "encoding_format": "base64"}
    answer = httpx.post(f"{server.url}/v1/embeddings", json=body).json()
    decoded = np.frombuffer(base64.b64decode(answer["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(decoded, reference.encode(["fox"])[0], atol=1e-5)
    assert set(answer) == {"object", "data", "model", "usage"} and answer["object"] == "list"


def test_a_vector_does_not_depend_on_its_batch(client, reference):
    alone = [vectors(client.embeddings.create(model="tiny", input=t))[0] for t in TEXTS]
    mixed = [TEXTS[2] * 3, *TEXTS, "a", TEXTS[1] * 2]
    together = vectors(client.embeddings.create(model="tiny", input=mixed))
    np.testing.assert_allclose(together[1:5], np.stack(alone), atol=1e-5)


def test_token_ids_single_and_many(client, reference, tiny_model):
    from transformers import AutoTokenizer

    ids = AutoTokenizer.from_pretrained(tiny_model)(TEXTS[:2], add_special_tokens=False)
    ids = ids["input_ids"]
    single = client.embeddings.create(model="tiny", input=ids[0])
    several = client.embeddings.create(model="tiny", input=ids)
    expected = reference.encode(TEXTS[:2])
    np.testing.assert_allclose(vectors(single), expected[:1], atol=1e-5)
    np.testing.assert_allclose(vectors(several), expected, atol=1e-5)


def test_sides_from_input_type_and_aliases(client, reference):
    query = reference.encode(TEXTS, "query")
    by_field = client.embeddings.create(
        model="tiny", input=TEXTS, extra_body={"input_type": "query"}
    )
    by_alias = client.embeddings.create(model="tiny:query", input=TEXTS)
    document = client.embeddings.create(model="tiny:document", input=TEXTS)
    np.testing.assert_allclose(vectors(by_field), query, atol=1e-5)
    np.testing.assert_allclose(vectors(by_alias), query, atol=1e-5)
    np.testing.assert_allclose(vectors(document), reference.encode(TEXTS, "document"), atol=1e-5)
    assert not np.allclose(vectors(by_alias), vectors(document), atol=1e-3)


def test_long_inputs_are_cut_keeping_the_delimiters(client, reference):
    long = " ".join(["contrastive"] * 2000)
    answer = client.embeddings.create(model="tiny", input=long)
    assert answer.usage.prompt_tokens == reference.encoder.tokenizer.max_length
    np.testing.assert_allclose(vectors(answer), reference.encode([long]), atol=1e-5)


def test_an_input_near_the_body_limit_is_cut_before_it_is_tokenized(server, reference):
    """Embedded as its first characters are: the tokenizer sees what the token cap can use."""
    huge = "contrastive pre-training " * ((LIMIT - (1 << 20)) // 25)
    answer = httpx.post(
        f"{server.url}/v1/embeddings", json={"model": "tiny", "input": huge}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    got = np.array(answer.json()["data"][0]["embedding"], dtype=np.float32)
    np.testing.assert_allclose(got, reference.encode([huge[:10_000]])[0], atol=1e-5)


def test_models_health_and_metrics(client, server):
    label = server.app.state.holder.current.label
    assert [m.id for m in client.models.list().data] == [
        "tiny",
        "tiny:query",
        "tiny:document",
        label,
        f"{label}:query",
        f"{label}:document",
    ]
    assert client.models.retrieve("tiny:query").id == "tiny:query"
    pinned = client.embeddings.create(model=f"{label}:query", input=TEXTS[:1])
    assert pinned.model == label
    health = httpx.get(f"{server.url}/health")
    assert health.status_code == 200 and health.json()["status"] == "ready"
    client.embeddings.create(model="tiny", input=TEXTS)
    text = httpx.get(f"{server.url}/metrics").text
    encoder = server.app.state.holder.current.encoder
    info = f'cpt_model_info{{dtype="float32",identity="{encoder.space}",name="tiny"}} 1.0'
    assert info in text
    assert 'cpt_requests_total{route="/v1/embeddings",status="200"}' in text
    assert "cpt_batch_texts_bucket" in text and "cpt_batch_tokens_sum" in text
    assert "cpt_queue_depth 0.0" in text and "cpt_request_seconds_bucket" in text


def error_of(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


def test_bad_requests_answer_in_openai_shape(server, client):
    url = f"{server.url}/v1/embeddings"
    too_many = error_of(httpx.post(url, json={"model": "tiny", "input": ["a"] * 2049}), 400)
    assert "2048" in too_many["message"] and too_many["param"] == "input"
    assert (
        "empty"
        in error_of(httpx.post(url, json={"model": "tiny", "input": ["a", ""]}), 400)["message"]
    )
    malformed = httpx.post(
        url, content=b'{"model": "tiny", "input": [', headers={"content-type": "application/json"}
    )
    assert error_of(malformed, 400)["code"] == "invalid_json"
    missing = error_of(httpx.post(url, json={"input": "a"}), 400)
    assert missing["param"] == "model"
    unknown = error_of(httpx.post(url, json={"model": "gpt-4", "input": "a"}), 404)
    assert unknown["code"] == "model_not_found" and "tiny" in unknown["message"]
    wrong_dim = error_of(
        httpx.post(url, json={"model": "tiny", "input": "a", "dimensions": 8}), 400
    )
    assert wrong_dim["param"] == "dimensions" and "32" in wrong_dim["message"]
    vocab = error_of(httpx.post(url, json={"model": "tiny", "input": [5, 99999]}), 400)
    assert vocab["code"] == "invalid_token_id"
    mixed = error_of(httpx.post(url, json={"model": "tiny", "input": ["a", 5]}), 400)
    assert mixed["param"] == "input"
    error_of(
        httpx.post(url, json={"model": "tiny:query", "input": "a", "input_type": "document"}), 400
    )
    error_of(httpx.get(f"{server.url}/v1/nothing-here"), 404)
    error_of(httpx.get(url), 405)
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="tiny", input="")
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="text-embedding-3-small", input="a")


def test_oversized_bodies_and_requests(tiny_model):
    with serve(tiny_model, max_body_bytes=4096, max_request_tokens=200) as live:
        url = f"{live.url}/v1/embeddings"
        big = error_of(httpx.post(url, json={"model": "tiny", "input": "x" * 8000}), 413)
        assert big["code"] == "request_too_large"

        def chunks():
            yield b'{"model": "tiny", "input": "'
            for _ in range(10):
                yield b"y" * 1000
            yield b'"}'

        error_of(httpx.post(url, content=chunks()), 413)  # no Content-Length: counted as read
        tokens = error_of(httpx.post(url, json={"model": "tiny", "input": ["fox " * 60] * 4}), 400)
        assert tokens["code"] == "too_many_tokens"
        assert httpx.post(url, json={"model": "tiny", "input": "fox " * 60}).status_code == 200


def test_a_full_queue_answers_429_with_retry_after(tiny_model):
    slow = make_tiny_model(tiny_model.parent.parent / "slow-model", hidden=256, layers=6)
    with serve(slow, queue_capacity=4, max_batch_tokens=512) as live:
        url = f"{live.url}/v1/embeddings"
        client = openai.OpenAI(base_url=f"{live.url}/v1", api_key="x", max_retries=0)

        def while_full(request):
            """`request()` (4 texts) sent while 4 long texts are queued or running: it fits
            only once all of those are done."""
            first: list[httpx.Response] = []
            body = {"model": "tiny", "input": ["fox jumps " * 400] * 4}  # 512 tokens each
            busy = threading.Thread(target=lambda: first.append(httpx.post(url, json=body)))
            busy.start()
            while "cpt_queue_depth 4.0" not in httpx.get(f"{live.url}/metrics").text:
                assert busy.is_alive()
            try:
                return request()
            finally:
                busy.join()
                assert first[0].status_code == 200 and len(first[0].json()["data"]) == 4

        full = while_full(
            lambda: httpx.post(url, json={"model": "tiny", "input": ["one more"] * 4})
        )
        assert full.status_code == 429, full.text
        assert full.headers["retry-after"] == "1"
        error = error_of(full, 429)
        assert error["type"] == "rate_limit_error" and error["code"] == "queue_full"
        with pytest.raises(openai.RateLimitError):
            while_full(lambda: client.embeddings.create(model="tiny", input=["one more"] * 4))
        assert client.embeddings.create(model="tiny", input="now").data


def test_more_inputs_than_the_queue_holds_is_a_400(tiny_model):
    with serve(tiny_model, queue_capacity=4) as live:
        url = f"{live.url}/v1/embeddings"
        error = error_of(httpx.post(url, json={"model": "tiny", "input": ["a"] * 5}), 400)
        assert error["code"] == "too_many_inputs" and error["param"] == "input"
        assert httpx.post(url, json={"model": "tiny", "input": ["a"] * 4}).status_code == 200


def test_api_keys(tiny_model):
    with serve(tiny_model, keys=["k-one", "k-two"]) as live:
        url = f"{live.url}/v1/embeddings"
        body = {"model": "tiny", "input": "a"}
        assert error_of(httpx.post(url, json=body), 401)["code"] == "invalid_api_key"
        wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer k-three"})
        error_of(wrong, 401)
        good = httpx.post(url, json=body, headers={"Authorization": "Bearer k-two"})
        assert good.status_code == 200
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{live.url}/v1", api_key="nope", max_retries=0).models.list()
        keyed = openai.OpenAI(base_url=f"{live.url}/v1", api_key="k-one", max_retries=0)
        assert keyed.embeddings.create(model="tiny", input="a").data
        assert httpx.get(f"{live.url}/health").status_code == 200  # no key needed
        for path in ("/metrics", "/docs", "/openapi.json"):
            assert error_of(httpx.get(f"{live.url}{path}"), 401)["code"] == "invalid_api_key"
            answer = httpx.get(f"{live.url}{path}", headers={"Authorization": "Bearer k-one"})
            assert answer.status_code == 200
        refused = httpx.get(f"{live.url}/metrics", headers={"Authorization": "Bearer k-one"})
        assert 'cpt_refused_total{reason="invalid_api_key"} 6.0' in refused.text
    with serve(tiny_model, keys=["k-one"], public_metrics=True) as live:
        assert httpx.get(f"{live.url}/metrics").status_code == 200
        error_of(httpx.get(f"{live.url}/docs"), 401)


def open_request(live, length: int, headers: str = "") -> socket.socket:
    """A POST whose headers promise `length` body bytes of which only 2 are sent: the request
    stays in flight until the body is finished or the server answers without it."""
    connection = socket.create_connection(("127.0.0.1", live.port), timeout=10)
    head = (
        f"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n{headers}\r\n"
    )
    connection.sendall(head.encode() + b'{"')
    return connection


def status_of(connection: socket.socket) -> int:
    return int(connection.recv(65536).split(b" ", 2)[1])


def test_a_keyless_request_is_refused_before_its_body_is_read(tiny_model):
    """The 401 comes from the headers alone: the server never waits for the body."""
    with serve(tiny_model, keys=["k-one"]) as live:
        for given in ("", "Authorization: Bearer wrong\r\n"):
            with open_request(live, LIMIT, given) as connection:
                assert status_of(connection) == 401  # within the socket's 10 s, body unsent


def test_keyless_clients_sending_bodies_at_the_limit_each_read_their_401(tiny_model):
    """Not a reset: a body of a declared length within the limit is dropped as it arrives, so
    the client that forgot its key learns why; a keyed client is answered meanwhile."""
    from concurrent.futures import ThreadPoolExecutor

    flood = b'{"model": "tiny", "input": "' + b"x" * (LIMIT - 64) + b'"}'
    with serve(tiny_model, keys=["k-one"]) as live:
        url = f"{live.url}/v1/embeddings"

        def keyless(_):
            return httpx.post(url, content=flood, timeout=60).status_code

        with ThreadPoolExecutor(6) as pool:
            floods = pool.map(keyless, range(12))  # sent now, in 6 threads
            keyed = httpx.post(
                url, json={"model": "tiny", "input": "a"}, headers={"Authorization": "Bearer k-one"}
            )
            statuses = list(floods)
        assert statuses == [401] * 12 and keyed.status_code == 200


def test_requests_beyond_the_concurrency_cap_get_503_at_once(tiny_model):
    with serve(tiny_model, max_concurrent_requests=2) as live:
        url = f"{live.url}/v1/embeddings"
        held = [open_request(live, 64) for _ in range(2)]  # two in flight, bodies unfinished
        time.sleep(0.3)  # both reach the server
        over = httpx.post(url, json={"model": "tiny", "input": "a"})
        assert error_of(over, 503)["code"] == "overloaded" and over.headers["retry-after"] == "1"
        with pytest.raises(openai.InternalServerError):
            openai.OpenAI(base_url=f"{live.url}/v1", api_key="x", max_retries=0).models.list()
        assert httpx.get(f"{live.url}/health").status_code == 200  # probes are never capped
        for connection in held:
            connection.sendall(b"x" * 62)  # the rest: invalid JSON, answered 400
            assert status_of(connection) == 400
            connection.close()
        assert httpx.post(url, json={"model": "tiny", "input": "a"}).status_code == 200
        assert 'cpt_refused_total{reason="overloaded"} 2.0' in httpx.get(f"{live.url}/metrics").text


def test_keyless_server_refuses_a_public_address(tiny_model):
    with pytest.raises(CptError, match="without API keys"):
        build_app(str(tiny_model), ServeSettings(host="0.0.0.0", **F32), [])
    command = [sys.executable, "-m", "cpt_core.cli", "serve", str(tiny_model), "--host", "0.0.0.0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=_env({}))
    assert done.returncode == 2
    assert (
        done.stderr.strip().splitlines()[-1].startswith("cpt: error: refusing to listen on 0.0.0.0")
    )


def _env(extra):
    import os

    return {**os.environ, "CPT_API_KEYS": "", **extra}


DOCS = [
    {"_id": f"d{i}", "text": t}
    for i, t in enumerate(
        ["alpha particles", "beta decay", "gamma rays", "the lazy dog", "a quick fox", "sum"]
    )
]


@pytest.fixture(scope="module")
def index(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve-index")
    corpus = folder / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    build_index(corpus, str(tiny_model), folder / "index", max_length=16)
    return folder / "index"


def test_search_finds_a_known_document_and_filters(tiny_model, index):
    exact = load_encoder(str(tiny_model), 16)  # as the index was built: the default dtype
    with serve(tiny_model, index=index, dtype="auto") as live:
        url = f"{live.url}/v1/search"
        expected = (
            exact.encode(["the lazy dog"], "document") @ exact.encode(["the lazy dog"], "query").T
        )
        found = httpx.post(url, json={"query": "the lazy dog", "k": 6}).json()
        assert len(found["data"]) == 6 and found["model"].startswith("tiny@")
        hit = next(h for h in found["data"] if h["id"] == "d3")
        assert hit == {
            "id": "d3",
            "score": pytest.approx(float(expected[0, 0]), abs=1e-3),
            "text": "the lazy dog",
        }
        scores = [h["score"] for h in found["data"]]
        assert scores == sorted(scores, reverse=True)
        only = httpx.post(url, json={"query": "dog", "k": 5, "filter": {"ids": ["d1", "d4", "zz"]}})
        assert sorted(h["id"] for h in only.json()["data"]) == ["d1", "d4"]
        error_of(httpx.post(url, json={"query": "dog", "k": 0}), 400)
        error_of(httpx.post(url, json={"query": "dog", "model": "other"}), 404)
    with serve(tiny_model) as bare:
        missing = error_of(httpx.post(f"{bare.url}/v1/search", json={"query": "dog"}), 404)
        assert missing["code"] == "index_not_found"


def test_an_index_of_another_model_is_refused_at_start(tiny_model, index, tmp_path):
    other = make_tiny_model(tmp_path / "other", hidden=48)
    with pytest.raises(CptError, match="was built with"):
        build_app(str(other), ServeSettings(), [], str(index))
    command = [sys.executable, "-m", "cpt_core.cli", "serve", str(other), "--index", str(index)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=_env({}))
    assert done.returncode == 2
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("cpt: error:")]
    assert "was built with" in line and "rebuild the index" in line


def test_hot_swap_under_load(tiny_model, tmp_path):
    newer = make_tiny_model(tmp_path / "newer", hidden=48)
    run = tmp_path / "run"
    Registry(current=ModelRecord(model=str(tiny_model), dataset="one")).write(run)
    with serve(None, registry=run, poll_seconds=0.2, name="demo") as live:
        client = openai.OpenAI(base_url=f"{live.url}/v1", api_key="x", max_retries=0)
        labels, failures, stop = [], [], threading.Event()

        def loop():
            while not stop.is_set():
                try:
                    answer = client.embeddings.create(model="demo", input=TEXTS)
                    labels.append((answer.model, len(answer.data[0].embedding)))
                except Exception as exc:  # counted, never hidden: the test fails on any
                    failures.append(exc)

        health: list[httpx.Response] = []

        # The real loader, held once loaded until /health has said "swapping": a tiny model
        # loads in a blink, and the swapping window must be seen, not raced.
        follower, seen_swapping = live.app.state.follower, threading.Event()
        load = follower.load

        def held_load(*source):
            served = load(*source)
            seen_swapping.wait(60)
            return served

        follower.load = held_load

        def probe():
            while not stop.is_set():
                health.append(httpx.get(f"{live.url}/health"))
                if health[-1].json()["status"] == "swapping":
                    seen_swapping.set()

        clients = [threading.Thread(target=loop) for _ in range(3)]
        clients.append(threading.Thread(target=probe))
        for t in clients:
            t.start()
        time.sleep(1.0)
        Registry(current=ModelRecord(model=str(newer), dataset="two")).write(run)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(d == 48 for _, d in labels[-3:]):
            time.sleep(0.1)
        time.sleep(1.0)
        stop.set()
        for t in clients:
            t.join()
        history = live.app.state.holder.history
    assert failures == []
    old, new = history
    # live and ready throughout: the old model answers until the swap, so no load balancer
    # should drain this replica (or every replica, all following one registry) meanwhile
    assert {h.status_code for h in health} == {200}
    swapping = [h.json() for h in health if h.json()["status"] == "swapping"]
    assert swapping and swapping[0]["model"] == old
    assert health[-1].json() == {"status": "ready", "model": new}
    assert old != new and labels[0] == (old, 32) and labels[-1] == (new, 48)
    seen = [label for label, _ in labels]
    first_new = seen.index(new)
    assert set(seen[:first_new]) == {old} and set(seen[first_new:]) == {new}  # never back
    assert all(dim == (32 if label == old else 48) for label, dim in labels)  # never mixed


def test_a_broken_retrain_keeps_the_served_model(tiny_model, tmp_path):
    run = tmp_path / "run"
    Registry(current=ModelRecord(model=str(tiny_model), dataset="one")).write(run)
    with serve(None, registry=run, poll_seconds=0.1, name="demo") as live:
        (tmp_path / "broken").mkdir()
        (tmp_path / "broken" / "config.json").write_text("{not json")
        Registry(current=ModelRecord(model=str(tmp_path / "broken"), dataset="2")).write(run)
        time.sleep(1.5)
        answer = httpx.post(f"{live.url}/v1/embeddings", json={"model": "demo", "input": "a"})
        assert answer.status_code == 200
        assert answer.json()["model"] == live.app.state.holder.history[0]
        assert len(live.app.state.holder.history) == 1


def test_the_follower_outlives_any_error(tiny_model, tmp_path, monkeypatch):
    """An OSError reading the registry (a disk, a mount) is shown and counted, and following
    goes on: the next retrain is still swapped in."""
    import cpt_core.serve.follow

    run = tmp_path / "run"
    Registry(current=ModelRecord(model=str(tiny_model), dataset="one")).write(run)
    readable = cpt_core.serve.follow.current_source

    def unreadable(run_dir):
        raise OSError(5, "Input/output error", str(run_dir))

    with serve(None, registry=run, poll_seconds=0.1, name="demo") as live:
        monkeypatch.setattr(cpt_core.serve.follow, "current_source", unreadable)
        time.sleep(0.5)
        health = httpx.get(f"{live.url}/health")
        assert health.status_code == 200
        assert health.json()["follow_error"].startswith("OSError: [Errno 5] Input/output error")
        errors = re.search(
            r"^cpt_follow_errors (\S+)$", httpx.get(f"{live.url}/metrics").text, re.M
        )
        assert float(errors.group(1)) >= 1
        monkeypatch.setattr(cpt_core.serve.follow, "current_source", readable)
        newer = make_tiny_model(tmp_path / "newer", hidden=48)
        Registry(current=ModelRecord(model=str(newer), dataset="two")).write(run)
        deadline = time.monotonic() + 30
        while len(live.app.state.holder.history) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        answer = httpx.post(f"{live.url}/v1/embeddings", json={"model": "demo", "input": "a"})
        assert len(answer.json()["data"][0]["embedding"]) == 48
        assert "follow_error" not in httpx.get(f"{live.url}/health").json()


def test_a_pinned_version_outlives_a_swap_by_its_grace_period(tiny_model, tmp_path):
    """NAME follows the registry; NAME@VERSION keeps its weights: through the grace period
    after a swap, then a 404 that names the current version."""
    run = tmp_path / "run"
    Registry(current=ModelRecord(model=str(tiny_model), dataset="one")).write(run)
    with serve(None, registry=run, poll_seconds=0.1, name="demo", version_grace_seconds=2) as live:
        client = openai.OpenAI(base_url=f"{live.url}/v1", api_key="x", max_retries=0)
        old = client.embeddings.create(model="demo", input="fox").model
        newer = make_tiny_model(tmp_path / "newer", hidden=48)
        Registry(current=ModelRecord(model=str(newer), dataset="two")).write(run)
        deadline = time.monotonic() + 30
        while len(live.app.state.holder.history) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        new = client.embeddings.create(model="demo", input="fox")
        pinned = client.embeddings.create(model=f"{old}:query", input="fox")
        listed = [m.id for m in client.models.list().data]
        assert new.model != old and len(new.data[0].embedding) == 48
        assert pinned.model == old and len(pinned.data[0].embedding) == 32
        assert {"demo", new.model, old, f"{old}:document"} <= set(listed)
        time.sleep(2.2)
        with pytest.raises(
            openai.NotFoundError, match=f"no longer served; demo is now {new.model}"
        ):
            client.embeddings.create(model=old, input="fox")
        assert old not in [m.id for m in client.models.list().data]


def test_a_pipeline_model_is_served_by_its_run_name(tmp_path):
    """Not by its stage folder's cache key: `cpt serve runs/NAME/train/KEY/model` answers to
    NAME, as `cpt serve --registry runs/NAME` does."""
    train = tmp_path / "runs" / "pipeline-demo" / "train"
    model = make_tiny_model(train / "train-3164982b574f129f" / "model")
    with serve(model, name=None) as live:
        client = openai.OpenAI(base_url=f"{live.url}/v1", api_key="x", max_retries=0)
        names = [m.id for m in client.models.list().data]
        answer = client.embeddings.create(model="pipeline-demo", input="fox")
    assert names[:3] == ["pipeline-demo", "pipeline-demo:query", "pipeline-demo:document"]
    assert answer.model.startswith("pipeline-demo@") and answer.model in names


def test_minilm_serves_through_the_same_path():
    reference = load_encoder("all-minilm-l6-v2", **F32)  # as `serve` loads it
    with serve("all-minilm-l6-v2", name="minilm") as live:
        client = openai.OpenAI(base_url=f"{live.url}/v1", api_key="x", max_retries=0)
        got = vectors(client.embeddings.create(model="minilm", input=[*TEXTS, "  Padded  "]))
        np.testing.assert_allclose(
            got, reference.encode([*TEXTS, "  Padded  "], "document"), atol=1e-5
        )
        query = vectors(client.embeddings.create(model="minilm:query", input=TEXTS))
        np.testing.assert_allclose(query, got[:4], atol=1e-6)  # no sides: both the same
        assert got.shape[1] == 384


def test_batches_respect_the_budget_and_never_mix_models():
    batcher = Batcher(Backend(), max_batch_tokens=40)
    a, b = object(), object()
    items = [Item(a, [0] * n, None) for n in (3, 20, 10, 10, 5)] + [Item(b, [0] * 4, None)]
    batches = batcher.batches(items)
    for batch in batches:
        assert len({id(i.encoder) for i in batch}) == 1
        assert len(batch[0].ids) * len(batch) <= 40
        assert [len(i.ids) for i in batch] == sorted((len(i.ids) for i in batch), reverse=True)
    assert sorted(len(i.ids) for batch in batches for i in batch) == [3, 4, 5, 10, 10, 20]
    assert [[len(i.ids) for i in batch] for batch in batches] == [[20, 10], [10, 5, 3], [4]]


def test_a_failing_text_fails_only_its_own_request(tiny_model):
    """Three clients' texts in one batch, one of which the backend cannot embed (a fault
    injected into the real model's forward): the other two are answered with their vectors."""
    import asyncio

    encoder = load_encoder(str(tiny_model), dtype="float32")
    poison = encoder.tokenize(["the text that breaks the forward"], "document")[0]
    real = encoder.embed_ids

    def fragile(sequences, pad_to=1):
        if poison in sequences:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return real(sequences, pad_to)

    encoder.embed_ids = fragile
    texts = [["fox"], ["the text that breaks the forward"], ["a lazy dog", "sum"]]

    async def three_clients():
        batcher = Batcher(Backend(), max_batch_tokens=4096)
        consumer = asyncio.create_task(batcher.run())
        requests = [batcher.embed(encoder, encoder.tokenize(t, "document")) for t in texts]
        answers = await asyncio.gather(*requests, return_exceptions=True)
        consumer.cancel()
        batcher.backend.close()
        return answers

    fine, broken, also_fine = asyncio.run(three_clients())
    assert isinstance(broken, RuntimeError) and "illegal memory access" in str(broken)
    expected = real(encoder.tokenize(["fox", "a lazy dog", "sum"], "document"))
    np.testing.assert_allclose(np.vstack([fine, also_fine]), expected, atol=1e-5)


def test_cpt_serve_command_end_to_end(tiny_model, tmp_path):
    """The CLI as a user runs it: keys from a file, settings by --set, then a clean stop."""
    from cpt_core.train.launch import free_port

    keys = tmp_path / "keys"
    keys.write_text("# one key a line\nsecret-1\n")
    port = free_port()
    command = [sys.executable, "-m", "cpt_core.cli", "serve", str(tiny_model), "--port", str(port)]
    command += ["--api-key-file", str(keys), "--name", "cli", "--set", "dtype=float32"]
    server = subprocess.Popen(command, env=_env({}), stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="secret-1")
        answer = client.embeddings.create(model="cli:query", input=["fox"])
        expected = Embedder.from_pretrained(tiny_model, dtype="float32").encode(["fox"], "query")
        np.testing.assert_allclose(vectors(answer), expected, atol=1e-5)
    finally:
        server.terminate()  # graceful: uvicorn finishes, then re-raises SIGTERM as its exit
        server.wait(timeout=60)
    log = server.stderr.read()
    assert "serving cli (cli@" in log and "Application shutdown complete" in log
    bad = subprocess.run(
        [*command[:4], str(tiny_model), "--set", "queue_capacity=0"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env({}),
    )
    assert bad.returncode == 2 and "invalid value for 'queue_capacity'" in bad.stderr
