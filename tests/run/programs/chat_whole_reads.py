#!/usr/bin/python3
# BROKEN on purpose: compares each whole recv(1024) to "/quit" (a message split or merged
# across reads is missed). Otherwise careful.
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
            if not data:  # the peer closed its end: end of stream
                break
            if data.strip() == b"/quit":  # the mistake: one recv() taken as one message
                break
            broadcast(data)
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
