#!/usr/bin/python3
# A careful chat client: prints what the server sends, closes when the server closes.
# Usage: client_careful.py PORT
import socket
import sys

s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
try:
    while True:
        data = s.recv(1024)
        if not data:  # the server closed: so do we
            break
        sys.stdout.write(data.decode(errors="replace"))
except ConnectionResetError:
    print("the server reset the connection", file=sys.stderr)
s.close()
