"""LLM on a server speaking the OpenAI chat-completions API (llama.cpp's server, llama-cpp-python's,
Ollama, vLLM): the answer streams back as server-sent events.

The request runs in a reader thread and its pieces come through a queue, so a barge-in stops the
answer at once even while the server is still reading the prompt (the connection is closed; a
server that notices stops generating). Only the configured server is contacted. The standard
library's HTTP client is enough for one POST and a line-oriented event stream.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field

from runtime.core.errors import ThinkFault
from runtime.engines.llm import LlmEngine, ThinkBackend
from runtime.store.models import ModelStore

_LOGGER = logging.getLogger(__name__)

_POLL_S = 0.05
"""How often a waiting answer checks should_stop (seconds)."""
_END = object()


class OpenAIThink(ThinkBackend):
    """[think] type = "openai": any server speaking the OpenAI chat-completions API (llama.cpp's
    server, llama-cpp-python's, Ollama, vLLM), on this box or the LAN."""

    type: Literal["openai"]
    url: str = Field(pattern=r"^https?://[^/\s?#]+(/[^\s?#]*)?$",
        description='The API base, e.g. "http://127.0.0.1:8000/v1" (chat/completions is appended).')
    model: str = Field("", max_length=256, description="Model name the server knows; empty = its default.")
    api_key_env: str = Field("", pattern=r"^$|^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding the server's API key (sent as a bearer token); empty = none.")
    n_ctx: int = Field(4096, ge=256, le=1048576,
        description="The server model's context (tokens): personas are checked against it (estimated counts).")
    temperature: float = Field(0.6, ge=0, le=2, description="Sampling temperature (0 = greedy).")
    top_p: float = Field(0.9, gt=0, le=1, description="Nucleus sampling mass.")
    connect_timeout_s: float = Field(2.0, gt=0, le=60, description="Longest wait to connect (seconds).")
    read_timeout_s: float = Field(15.0, gt=0, le=600,
        description="Longest silence of the server inside an answer (seconds).")

    @property
    def host(self) -> str:
        """The server's host name or address."""
        from urllib.parse import urlsplit

        return urlsplit(self.url).hostname or ""


def create(cfg: OpenAIThink, store: ModelStore | None) -> OpenAIEngine:
    """The engine for a [think] type = "openai" section (no local model)."""
    key = os.environ.get(cfg.api_key_env, "") if cfg.api_key_env else ""
    if cfg.api_key_env and not key:
        raise ThinkFault("think-server-key-missing", f"[think] api_key_env names {cfg.api_key_env}, which is not set",
                         f"export {cfg.api_key_env}=... for the service (an EnvironmentFile), or empty api_key_env")
    return OpenAIEngine(cfg.url, model=cfg.model, api_key=key, n_ctx=cfg.n_ctx, temperature=cfg.temperature,
                        top_p=cfg.top_p, connect_timeout_s=cfg.connect_timeout_s, read_timeout_s=cfg.read_timeout_s)


def check(cfg: OpenAIThink) -> str:
    """check-config's look at the server: it answers, and knows the configured model."""
    offered = create(cfg, None).models()
    if cfg.model and cfg.model not in offered:
        raise ThinkFault("think-server-model-unknown", f"the LLM server at {cfg.url} has no model {cfg.model!r}",
                         f"set [think] model to one it offers: {', '.join(offered) or '(none listed)'}")
    return f"the LLM server at {cfg.url} answers ({', '.join(offered) or 'no models listed'})"


class OpenAIEngine(LlmEngine):
    """Answers through one OpenAI-compatible server; token counts are estimates."""

    def __init__(self, url: str, *, model: str = "", api_key: str = "", n_ctx: int = 4096, temperature: float = 0.6,
                 top_p: float = 0.9, connect_timeout_s: float = 2.0, read_timeout_s: float = 15.0) -> None:
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        self._https, self._host, self._port = parts.scheme == "https", parts.hostname or "", parts.port
        self._path = parts.path
        self.model, self.n_ctx = model, n_ctx
        self._key = api_key
        self.temperature, self.top_p = temperature, top_p
        self.connect_timeout_s, self.read_timeout_s = connect_timeout_s, read_timeout_s
        self.last_first_token_ms: float | None = None
        """Request -> first piece of the latest answer (milliseconds)."""

    # --- the one request ----------------------------------------------------------------------

    def stream(self, messages: list[dict], *, max_tokens: int, should_stop: Callable[[], bool],
               language: str = "") -> Iterator[str]:
        """The answer's text pieces as the server streams them; a fault names what went wrong."""
        body = {"messages": messages, "max_tokens": max_tokens, "stream": True, "temperature": self.temperature,
                "top_p": self.top_p, **({"model": self.model} if self.model else {})}
        pieces: queue.Queue = queue.Queue()
        conn = self._connection()
        started = time.perf_counter()
        self.last_first_token_ms = None
        closed = threading.Event()
        reader = threading.Thread(target=self._read, args=(conn, body, pieces, closed), name="llm-openai",
                                  daemon=True)
        reader.start()
        try:
            while True:
                if should_stop():
                    return
                try:
                    item = pieces.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
                if item is _END:
                    return
                if isinstance(item, ThinkFault):
                    raise item
                if self.last_first_token_ms is None:
                    self.last_first_token_ms = (time.perf_counter() - started) * 1000
                    _LOGGER.debug("first token after %.0f ms (server %s)", self.last_first_token_ms, self.url)
                yield item
        finally:
            closed.set()
            conn.close()  # a barge-in or an early end: the server sees the stream closed

    def _connection(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return kind(self._host, self._port, timeout=self.connect_timeout_s)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        return headers

    def _read(self, conn: http.client.HTTPConnection, body: dict, pieces: queue.Queue,
              closed: threading.Event) -> None:
        """The reader thread: POST, then each piece of text into `pieces`, then _END or a fault
        (nothing once stream() closed the connection under it: nobody waits)."""
        try:
            self._request(conn, body, pieces)
        except Exception as err:  # noqa: BLE001 - every failure must reach the answer waiting on it
            if closed.is_set():
                return
            pieces.put(self._fault(err))

    def _request(self, conn: http.client.HTTPConnection, body: dict, pieces: queue.Queue) -> None:
        try:
            conn.connect()
        except OSError as err:  # refused, no route, or the connect timeout
            raise self._unreachable(err) from err
        conn.sock.settimeout(self.read_timeout_s)
        conn.request("POST", f"{self._path}/chat/completions", body=json.dumps(body).encode(),
                     headers=self._headers())
        response = conn.getresponse()
        if response.status >= 400:
            raise self._refused(response.status, response.read(400).decode("utf-8", "replace"))
        if "text/event-stream" in (response.getheader("Content-Type") or ""):
            for piece in self._events(response):
                pieces.put(piece)
        else:  # a server that ignores "stream": the whole answer at once
            pieces.put(self._content(json.loads(response.read()), "message"))
        pieces.put(_END)

    def _fault(self, err: Exception) -> ThinkFault:
        """What went wrong inside an answer, as the operator should read it."""
        if isinstance(err, ThinkFault):
            return err
        if isinstance(err, TimeoutError):
            return ThinkFault("think-server-timeout", f"the LLM server at {self.url} went silent for "
                              f"{self.read_timeout_s:g} s", "the server may be overloaded or stuck; raise [think] "
                              "read_timeout_s for a slow model")
        if isinstance(err, (OSError, http.client.HTTPException)):
            return ThinkFault("think-server-lost", f"the connection to the LLM server at {self.url} broke: {err}",
                              "check that the server is still running; the next question reconnects")
        return self._invalid(err)

    def _events(self, response: http.client.HTTPResponse) -> Iterator[str]:
        """Text pieces of a server-sent event stream of chat.completion.chunk objects."""
        for raw in response:
            line = raw.decode("utf-8").strip()
            if not line.startswith("data:"):
                continue  # blank separators, comments (keep-alives), event names
            data = line[5:].strip()
            if data == "[DONE]":
                return
            event = json.loads(data)
            if "error" in event:
                raise self._refused(200, json.dumps(event["error"])[:400])
            text = self._content(event, "delta")
            if text:
                yield text

    def _content(self, event: dict, field: str) -> str:
        choices = event["choices"]
        if not choices:
            return ""
        return choices[0].get(field, {}).get("content") or ""

    # --- what check-config asks ---------------------------------------------------------------

    def models(self) -> list[str]:
        """The model names the server offers (GET /models): proves it answers."""
        conn = self._connection()
        try:
            try:
                conn.connect()
            except (TimeoutError, OSError) as err:
                raise self._unreachable(err) from err
            conn.sock.settimeout(self.read_timeout_s)
            conn.request("GET", f"{self._path}/models", headers=self._headers())
            response = conn.getresponse()
            text = response.read(1 << 20).decode("utf-8", "replace")
            if response.status >= 400:
                raise self._refused(response.status, text[:400])
            return [str(m["id"]) for m in json.loads(text)["data"]]
        except (ValueError, KeyError, TypeError) as err:
            raise self._invalid(err) from err
        except (OSError, http.client.HTTPException) as err:
            raise self._unreachable(err) from err
        finally:
            conn.close()

    # --- faults -------------------------------------------------------------------------------

    def _unreachable(self, err: Exception) -> ThinkFault:
        return ThinkFault("think-server-unreachable", f"cannot reach the LLM server at {self.url}: {err}",
                          "start the server, or fix [think] url (host, port, and the /v1 base)")

    def _refused(self, status: int, text: str) -> ThinkFault:
        hint = ("set [think] api_key_env to the variable holding the server's key" if status in (401, 403)
                else "check [think] url (the API base, usually ending in /v1) and [think] model" if status == 404
                else "the server's own log says more")
        return ThinkFault("think-server-refused", f"the LLM server at {self.url} answered {status}: {text.strip()}",
                          hint)

    def _invalid(self, err: Exception) -> ThinkFault:
        return ThinkFault("think-server-invalid",
                          f"the server at {self.url} does not answer like an OpenAI chat-completions API: {err}",
                          "check that [think] url is the API base of an OpenAI-compatible server")
