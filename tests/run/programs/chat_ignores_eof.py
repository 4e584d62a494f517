#!/usr/bin/python3
# BROKEN on purpose: ignores recv() == b'' and keeps calling recv() (a CLOSE_WAIT leak and a
# recv() == 0 busy loop). Otherwise careful.
# Usage: chat_careful.py PORT
import socket
import sys
import threading

clients = []
lock = threading.Lock()


def broadcast(line):
    with lock:
        targets = list(clients)
    for c in targets:
        try:
            c.sendall(line)
        except OSError:
            pass  # that client's own thread notices and cleans up


def serve(conn):
    buf = b""
    try:
        while True:
            data = conn.recv(1024)
            if not data:  # the mistake: end of stream ignored, recv() again
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
        pass  # reset by the peer
    finally:
        with lock:
            if conn in clients:
                clients.remove(conn)
        conn.close()


def main():
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
