#!/usr/bin/python3
# A threaded chat server as a beginner writes one, careful by default: SO_REUSEADDR, newline
# framing, closes on recv() == b''. MISTAKE makes it one of the broken servers the tests grade:
#   ignores-eof   ignores recv() == b'' and calls recv() again (CLOSE_WAIT leak, busy loop)
#   whole-reads   compares each whole recv(1024) to "/quit" (a split or merged one is missed)
#   no-reuse      no SO_REUSEADDR (a restart fails while TIME_WAIT holds the port)
#   sigpipe       SIGPIPE at its default and a reset client never forgotten: the next
#                 broadcast writes to a dead connection and the process dies of SIGPIPE
# Usage: chat_threaded.py PORT [MISTAKE]
import signal
import socket
import sys
import threading

MISTAKES = ("ignores-eof", "whole-reads", "no-reuse", "sigpipe")
mistake = sys.argv[2] if len(sys.argv) > 2 else None
if mistake is not None and mistake not in MISTAKES:
    sys.exit(f"chat_threaded.py: unknown mistake {mistake!r}; one of {', '.join(MISTAKES)}")

clients = []
lock = threading.Lock()


def broadcast(line):
    with lock:
        targets = list(clients)
    for c in targets:
        if mistake == "sigpipe":
            # A dead client's socket is still here. If its reader has not taken the reset yet,
            # this first write does (ECONNRESET); the next gets EPIPE, and SIGPIPE kills.
            try:
                c.sendall(line)
            except ConnectionResetError:
                c.sendall(line)
            continue
        try:
            c.sendall(line)
        except OSError:
            pass  # that client's own thread notices and cleans up


def forget(conn):
    with lock:
        if conn in clients:
            clients.remove(conn)
    conn.close()


def serve(conn):
    buf = b""
    try:
        while True:
            data = conn.recv(1024)
            if not data:  # the peer closed its end: end of stream
                if mistake == "ignores-eof":
                    continue  # the mistake: end of stream ignored, recv() again
                break
            if mistake == "whole-reads":
                if data.strip() == b"/quit":  # the mistake: one recv() taken as one message
                    break
                broadcast(data)
                continue
            buf += data
            quit_now = False
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip() == b"/quit":
                    quit_now = True
                    break
                broadcast(line + b"\n")
            if quit_now:
                break
    except OSError:
        if mistake == "sigpipe":
            return  # the mistake: the reset client stays in the list, its socket open
    forget(conn)


def main():
    if mistake == "sigpipe":
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # the mistake: Python ignores it by default
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if mistake != "no-reuse":
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(sys.argv[1])))
    srv.listen(16)
    while True:
        conn, _ = srv.accept()
        with lock:
            clients.append(conn)
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


main()
