#!/usr/bin/python3
# BROKEN on purpose: SIGPIPE left at its default and a reset client never forgotten, so the
# next broadcast writes to a dead connection and the process dies of SIGPIPE.
# Usage: chat_careful.py PORT
import socket
import sys
import signal
import threading

clients = []
lock = threading.Lock()


def broadcast(line):
    with lock:
        targets = list(clients)
    for c in targets:
        c.sendall(line)


def serve(conn):
    buf = b""
    try:
        while True:
            data = conn.recv(1024)
            if not data:  # the peer closed its end: end of stream
                break
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
        return  # the mistake: the reset client stays in the list, its socket open
    with lock:
        if conn in clients:
            clients.remove(conn)
    conn.close()


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # the mistake: Python ignores it by default
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(sys.argv[1])))
    srv.listen(16)
    while True:
        conn, _ = srv.accept()
        with lock:
            clients.append(conn)
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


main()
