#!/usr/bin/env python3
"""A stand-in for `socklab lab ...` that speaks the lab step protocol (docs/contracts.md), so the
viewer's lab runner is tested without the real labs. It makes real loopback sockets, so the
table has something to show: step 1 listens, step 2 connects, step 3 closes the client."""
import json
import socket
import sys


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def wait_control(step):
    """Block until "next"/"auto" (True) or "quit"/EOF (False)."""
    emit({"event": "waiting", "step": step})
    line = sys.stdin.readline()
    return line.strip() in ("next", "auto")


def main(argv):
    if argv[:2] != ["lab", "run"] or len(argv) < 3:
        sys.stderr.write("fake socklab: unexpected arguments %r\n" % argv)
        return 2
    lab_id = argv[2]
    port = int(argv[argv.index("--port") + 1]) if "--port" in argv else 0
    if lab_id == "stubborn":
        # Ignores "quit", EOF and SIGTERM, and has a child of its own: only SIGKILL to the
        # whole process group ends it.
        import signal
        import subprocess
        import time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        subprocess.Popen(["sleep", "30"])
        emit({"event": "lab", "lab": lab_id, "title": "stubborn", "steps": 1, "port": 0})
        time.sleep(30)
        return 0
    if lab_id == "broken":
        sys.stdout.write("this is not json\n")
        sys.stdout.flush()
        sys.stderr.write("fake socklab: the broken lab broke\n")
        return 3
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", port))
    port = listener.getsockname()[1]
    # The language the runner asked for, as a real lab would speak it (--lang, default en).
    lang = argv[argv.index("--lang") + 1] if "--lang" in argv else "en"
    title = "demo lab" if lang == "en" else "demo lab [%s]" % lang
    emit({"event": "lab", "lab": lab_id, "title": title, "steps": 3, "port": port})
    steps = [
        ("listen", "listen(3, 16)", [{"local_port": port, "remote_port": 0, "state": "LISTEN"}]),
        ("connect", "connect(4, 127.0.0.1:%d)" % port,
         [{"local_port": port, "remote_port": 0, "state": "ESTABLISHED"}]),
        ("close the client", "close(4)", [{"local_port": port, "remote_port": 0, "state": "CLOSE_WAIT"}]),
    ]
    client = server = None
    ok = True
    for n, (title, call, expect) in enumerate(steps, start=1):
        if not wait_control(n):
            return 0
        if n == 1:
            listener.listen(16)
        elif n == 2:
            client = socket.create_connection(("127.0.0.1", port))
            server, _ = listener.accept()
            expect[0]["remote_port"] = client.getsockname()[1]
        elif n == 3:
            client.close()
            expect[0]["remote_port"] = server.getpeername()[1]
        emit({"event": "step", "lab": lab_id, "step": n, "steps": 3, "title": title, "call": call,
              "result": "0", "explain": "step %d of the demo" % n, "expect": expect,
              "transitions": []})
        emit({"event": "observed", "step": n, "sockets": [], "ok": True,
              "checks": [{"expect": e, "ok": True} for e in expect]})
    emit({"event": "done", "lab": lab_id, "ok": ok})
    # Keep the sockets until told to quit, so the viewer can look at them.
    sys.stdin.readline()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
