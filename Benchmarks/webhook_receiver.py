#!/usr/bin/env python3
"""A webhook receiver for the benchmark: answers 200 at once, counts messages (objects in the JSON array
bodies, counted by their '{"type":' prefix) and requests, and exits when it has seen N messages, printing
'requests=R messages=M seconds=S' measured from the first request to the last."""
import http.server, sys, time

N = int(sys.argv[2])
state = {"messages": 0, "requests": 0, "first": None}

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if state["first"] is None:
            state["first"] = time.monotonic()
        state["requests"] += 1
        state["messages"] += body.count(b'{"type":')
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if state["messages"] >= N:
            print(f"requests={state['requests']} messages={state['messages']} seconds={time.monotonic() - state['first']:.3f}", flush=True)
            raise SystemExit(0)
    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
try:
    server.serve_forever()
except SystemExit:
    pass
