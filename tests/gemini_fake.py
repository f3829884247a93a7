"""A real HTTP server on 127.0.0.1 that speaks the Gemini generateContent REST API, for the
co-pilot's tests: it answers from a queue of canned replies and records every request.

    with FakeGemini() as fake:
        fake.reply_json({"fixes": []})          # a 200 whose text is that JSON
        fake.reply_status(429)                  # an error status
        env = fake.env()                        # GOOGLE_GEMINI_BASE_URL and a key
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEY = "fake-gemini-key-0123456789"


def answer(text: str, finish: str = "STOP") -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": text}]},
                "finishReason": finish,
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1},
    }


class FakeGemini:
    def __init__(self) -> None:
        self.replies: list[tuple[int, dict[str, Any]]] = []
        self.requests: list[dict[str, Any]] = []
        self.connections = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                fake.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "raw": raw,
                        "body": json.loads(raw) if raw else None,
                    }
                )
                status, body = fake.replies.pop(0) if fake.replies else (500, _error(500))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            def verify_request(self, request: Any, client_address: Any) -> bool:
                fake.connections += 1
                return True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeGemini:
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reply_json(self, value: Any, finish: str = "STOP") -> None:
        self.replies.append((200, answer(json.dumps(value), finish)))

    def reply_text(self, text: str, finish: str = "STOP") -> None:
        self.replies.append((200, answer(text, finish)))

    def reply_status(self, status: int) -> None:
        self.replies.append((status, _error(status)))

    def env(self, key: str = KEY) -> dict[str, str]:
        return {"GOOGLE_GEMINI_BASE_URL": self.url, "GEMINI_API_KEY": key}

    def sent_text(self, i: int = -1) -> str:
        """The prompt text of request `i`."""
        body = self.requests[i]["body"]
        return "".join(p.get("text", "") for c in body["contents"] for p in c["parts"])


def _error(status: int) -> dict[str, Any]:
    names = {
        429: "RESOURCE_EXHAUSTED",
        500: "INTERNAL",
        503: "UNAVAILABLE",
        400: "INVALID_ARGUMENT",
    }
    return {
        "error": {
            "code": status,
            "message": f"fake {status}",
            "status": names.get(status, "UNKNOWN"),
        }
    }
