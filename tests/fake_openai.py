"""A tiny fake OpenAI-compatible server on 127.0.0.1 for tests: chat completions, streamed or not, or errors."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOpenAIServer:
    """Serves POST /v1/chat/completions on a random port in a thread; use as a context manager.

    Set `reply` (streamed word by word when the request asks for streaming), `fail_status` (answer with that
    HTTP status and an OpenAI-style error body), `ignore_stream` (always answer with one JSON completion), or `api_key` (require `Authorization: Bearer <key>`, else 401).
    Every request body is recorded in `requests`.
    """

    def __init__(self, reply: str = "Hello from the fake server.", api_key: str | None = None) -> None:
        self.reply = reply
        self.api_key = api_key
        self.fail_status: int | None = None
        self.ignore_stream = False  # answer with one JSON completion even when streaming is asked for
        self.requests: list[dict[str, Any]] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str, kind: str) -> None:
                self._json(status, {"error": {"message": message, "type": kind, "code": status}})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/v1/chat/completions":
                    return self._error(404, f"no route {self.path}", "not_found")
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return self._error(401, "Incorrect API key provided.", "invalid_request_error")
                if server.fail_status:
                    return self._error(
                        server.fail_status, "The fake server failed on purpose.", "server_error"
                    )
                try:
                    request = json.loads(body)
                except ValueError:
                    return self._error(400, "body is not JSON", "invalid_request_error")
                server.requests.append(request)
                if request.get("stream") and not server.ignore_stream:
                    return self._stream(request)
                self._json(200, self._completion(request))

            def _completion(self, request: dict[str, Any]) -> dict[str, Any]:
                return {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": request.get("model", "fake"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": server.reply},
                            "finish_reason": "stop",
                        }
                    ],
                }

            def _stream(self, request: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                words = server.reply.split(" ")
                pieces = [w if i == len(words) - 1 else w + " " for i, w in enumerate(words)]
                deltas = [{"role": "assistant", "content": ""}] + [{"content": p} for p in pieces] + [{}]
                for i, delta in enumerate(deltas):
                    chunk = {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion.chunk",
                        "created": int(time.time()),
                        "model": request.get("model", "fake"),
                        "choices": [
                            {
                                "index": 0,
                                "delta": delta,
                                "finish_reason": "stop" if i == len(deltas) - 1 else None,
                            }
                        ],
                    }
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        return Handler
