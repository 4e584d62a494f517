#!/usr/bin/python3
# BROKEN on purpose: a chat client that ignores recv() == b'' (CLOSE_WAIT leak, busy loop).
# Usage: client_ignores_eof.py PORT
import socket
import sys

s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
try:
    while True:
        data = s.recv(1024)
        if not data:  # the mistake: end of stream ignored
            continue
        sys.stdout.write(data.decode(errors="replace"))
except ConnectionResetError:
    print("the server reset the connection", file=sys.stderr)
s.close()
