#!/usr/bin/env python3
"""A scripted OpenAI-compatible HTTP server for tests (loopback only, stdlib only).

The model name in each request picks the behaviour, so one server covers every path:
  normal        valid answers for every recfuse prompt (see answer())
  slow          sleeps SLOW seconds (default 3), then answers normally
  flaky-429     the first request with a given body gets 429 + Retry-After: 0, then normal
  flaky-500     the first request with a given body gets 500, then normal
  error-500     always 500
  malformed     200 with a body that is not JSON
  wrong-schema  200, a chat completion whose content is JSON of the wrong shape
  truncated     200 whose Content-Length promises more than is sent, then the connection closes
  refuse        a chat completion with message.refusal set
  length        finish_reason "length"
  hallucinate   explanations that name a title that is not in the evidence
Judging rule of the normal answers: a candidate whose text mentions "Comedy" is a good
match (relevancy 90, pointwise 0.9), anything else is not (10, -0.9).

GET /stats returns {"requests": {model: count}, "last_headers": {...}, "last_body": {...}}.
Prints "PORT <n>" on stdout once listening. Usage: fake_openai.py [port]
"""
import hashlib
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOW = 3.0
lock = threading.Lock()
requests_by_model = {}
seen_bodies = set()
last = {"headers": {}, "body": {}}


def chat(content, refusal=None, finish="stop"):
    return {"id": "chatcmpl-test", "object": "chat.completion", "model": "fake",
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": content, "refusal": refusal}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}


def prompt_of(body):
    return "\n".join(m.get("content", "") for m in body.get("messages", []))


def task_of(body):
    rf = body.get("response_format") or {}
    name = (rf.get("json_schema") or {}).get("name")
    if name:
        return name
    p = prompt_of(body)
    for key, task in (("Candidates:", "relevancy_scores"), ("Candidate:", "pointwise_score"),
                      ("why they may like", "explanation"), ("profile of this movie", "item_profile"),
                      ("taste profile of a movie watcher", "user_summary"), ("favourite movies", "preference")):
        if key in p:
            return task
    return "unknown"


def answer(body, hallucinate=False):
    p = prompt_of(body)
    task = task_of(body)
    if task == "relevancy_scores":
        cands = re.findall(r"^\[(\d+)\] (.*)$", p, re.M)
        return {"scores": [{"id": int(n), "score": 90 if "Comedy" in text else 10} for n, text in cands]}
    if task == "pointwise_score":
        m = re.search(r"^Candidate: (.*)$", p, re.M)
        return {"score": 0.9 if m and "Comedy" in m.group(1) else -0.9, "reason": "scripted"}
    if task == "explanation":
        item = re.search(r"why they may like (.*)\.\n", p).group(1)
        liked = re.findall(r"^- they liked (.*) \(weight", p, re.M)
        if hallucinate:
            return {"explanation": f"You will enjoy {item}, just as you enjoyed Citizen Kane."}
        because = f" because you liked {liked[0]}" if liked else ""
        return {"explanation": f"You may enjoy {item}{because}."}
    if task == "item_profile":
        return {"overview": "A scripted overview.", "attributes": ["scripted", "test"], "description": "For testers."}
    if task == "user_summary":
        liked = re.search(r"^They liked: (.*)$", p, re.M)
        prev = re.search(r"^Profile so far: (.*)$", p, re.M).group(1)
        add = f"Likes {liked.group(1).split(';')[0]}." if liked else "Has dislikes."
        return {"summary": (add if prev == "(empty)" else prev + " " + add)[:400]}
    if task == "preference":
        return {"preference": "Prefers thoughtful character-driven films."}
    return {"error": "unknown task"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, code, obj, headers=()):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/stats"):
            with lock:
                self.send_json(200, {"requests": dict(requests_by_model), "last_headers": last["headers"],
                                     "last_body": last["body"]})
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            body = json.loads(raw)
        except ValueError:
            return self.send_json(400, {"error": {"message": "body is not JSON"}})
        model = body.get("model", "normal")
        digest = hashlib.sha256(raw).hexdigest()
        with lock:
            requests_by_model[model] = requests_by_model.get(model, 0) + 1
            first = digest not in seen_bodies
            seen_bodies.add(digest)
            last["headers"] = {k: v for k, v in self.headers.items()}
            last["body"] = body
        if self.path.endswith("/embeddings"):
            inputs = body.get("input", [])
            inputs = [inputs] if isinstance(inputs, str) else inputs
            data = [{"object": "embedding", "index": i,
                     "embedding": [b / 255.0 for b in hashlib.sha256(t.encode()).digest()[:8]]}
                    for i, t in enumerate(inputs)]
            return self.send_json(200, {"object": "list", "data": data, "model": model})
        if not self.path.endswith("/chat/completions"):
            return self.send_json(404, {"error": {"message": f"no route {self.path}"}})
        if model == "slow":
            time.sleep(SLOW)
        if model == "flaky-429" and first:
            return self.send_json(429, {"error": {"message": "rate limited"}}, [("Retry-After", "0")])
        if (model == "flaky-500" and first) or model == "error-500":
            return self.send_json(500, {"error": {"message": "scripted failure"}})
        if model == "malformed":
            data = b"this is not json"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if model == "truncated":
            data = json.dumps(chat(json.dumps(answer(body)))).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data) + 100))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if model == "wrong-schema":
            return self.send_json(200, chat(json.dumps({"foo": 1})))
        if model == "refuse":
            return self.send_json(200, chat(None, refusal="I cannot help with that."))
        if model == "length":
            return self.send_json(200, chat('{"scores": [', finish="length"))
        return self.send_json(200, chat(json.dumps(answer(body, hallucinate=(model == "hallucinate")))))


def main():
    global SLOW
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    if len(sys.argv) > 2:
        SLOW = float(sys.argv[2])
    # socketserver's default listen backlog is 5: a client opening more connections at once
    # gets SYNs dropped and retried a second later, which looks like a slow client.
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    print(f"PORT {srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
