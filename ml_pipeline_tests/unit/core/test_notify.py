"""Webhook delivery against a real local HTTP server: one that answers, one that
answers 500, one too slow, and none at all."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import ValidationError

from ml_pipeline.config import WebhookConfig
from ml_pipeline.core.notify import Notice, deliver, expand, payload, send


class Receiver(BaseHTTPRequestHandler):
    """Answers with the status queued for it (200 when none is), after ``delay`` s."""

    statuses: list[int] = []
    bodies: list[dict] = []
    delay = 0.0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append(body)
        time.sleep(type(self).delay)
        status = type(self).statuses.pop(0) if type(self).statuses else 200
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args) -> None:
        return


@pytest.fixture
def receiver():
    Receiver.statuses, Receiver.bodies, Receiver.delay = [], [], 0.0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def no_wait(_seconds: float) -> None:
    return


NOTICE = Notice("promoted", "version 2 is the new champion", "beats v1", {"champion": "2"})


def test_a_notice_is_delivered_once_to_a_receiver_that_answers(receiver) -> None:
    tried = deliver(receiver, payload(NOTICE, "json"), attempts=3, timeout=5, sleep=no_wait)
    assert [(a.status, a.error) for a in tried] == [(200, None)]
    [body] = Receiver.bodies
    assert body["event"] == "promoted" and body["fields"] == {"champion": "2"}


def test_a_500_is_retried_with_backoff_until_it_is_taken(receiver) -> None:
    Receiver.statuses = [500, 500]
    waits = []
    tried = deliver(receiver, {"x": 1}, attempts=4, timeout=5, sleep=waits.append)
    assert [a.status for a in tried] == [500, 500, 200]
    assert tried[0].error == "HTTP 500" and tried[-1].error is None
    assert waits == [1, 2]


def test_a_slow_receiver_times_out_and_every_attempt_is_kept(receiver) -> None:
    Receiver.delay = 1.0
    tried = deliver(receiver, {"x": 1}, attempts=2, timeout=0.2, sleep=no_wait)
    assert len(tried) == 2 and all(a.status is None and "timed out" in a.error for a in tried)


def test_a_receiver_that_is_down_is_recorded_and_never_raises(tmp_path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hooks = [WebhookConfig(url=f"http://127.0.0.1:{port}/hook", attempts=2)]
    record = tmp_path / "deliveries.jsonl"
    problems = send(hooks, NOTICE, record, sleep=no_wait)
    assert len(problems) == 1 and problems[0].startswith("notify[0]: promoted not delivered")
    [entry] = [json.loads(line) for line in record.read_text().splitlines()]
    assert entry["delivered"] is False and len(entry["attempts"]) == 2


def test_only_subscribed_events_are_sent_and_kept_is_off_by_default(receiver, tmp_path) -> None:
    record = tmp_path / "deliveries.jsonl"
    hooks = [WebhookConfig(url=receiver, format="slack")]
    assert send(hooks, Notice("kept", "champion kept", "not better"), record) == []
    assert not record.exists() and not Receiver.bodies
    assert send(hooks, NOTICE, record) == []
    assert Receiver.bodies == [{"text": "*version 2 is the new champion*\nbeats v1\nchampion: 2"}]
    assert json.loads(record.read_text())["delivered"] is True


def test_a_secret_comes_from_the_environment_and_never_from_the_file(monkeypatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cret")
    assert expand("https://hooks.example/${HOOK_TOKEN}") == "https://hooks.example/s3cret"
    monkeypatch.delenv("HOOK_TOKEN")
    with pytest.raises(ValueError, match=r"HOOK_TOKEN .* is not set"):
        expand("https://hooks.example/${HOOK_TOKEN}")
    with pytest.raises(ValidationError, match="holds credentials"):
        WebhookConfig(url="https://user:pw@hooks.example/x")
    with pytest.raises(ValidationError, match="not an http"):
        WebhookConfig(url="ftp://hooks.example/x")
