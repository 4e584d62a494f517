#!/usr/bin/python3
# A server that makes the classic mistake once, with its own client, then exits: the client
# connects, sends a line and closes; the server ignores recv() == b'' for 2.5 s (the CLOSE_WAIT
# must be held 2 s to count as a leak) and exits without closing. For the viewer's headless
# test of `socklab-viewer -- CMD`. Usage: leaky_once.py PORT
import socket
import sys
import time

port = int(sys.argv[1])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen()
print(f"listening on 127.0.0.1:{port}", flush=True)
client = socket.create_connection(("127.0.0.1", port))
conn, _ = server.accept()
client.sendall(b"hello\n")
client.close()
print("got", conn.recv(1024), flush=True)
until = time.monotonic() + 2.5
while time.monotonic() < until:
    conn.recv(1024)  # the mistake: b'' (end of stream) is ignored and recv() called again
print("leaving without close()", flush=True)
