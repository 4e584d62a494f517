#!/usr/bin/python3
# A beginner's server that treats each recv() as one message: it compares the whole read with
# b"/quit", so "/qu" and "it\n" arriving in two reads are never recognised. It answers every
# read with "read N bytes\n" (the test waits for that before sending more), serves one client
# and exits when the client closes.
# Usage: whole_reads_once.py PORT
import socket
import sys

port = int(sys.argv[1])
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(1)
conn, _ = srv.accept()
while True:
    data = conn.recv(1024)
    if not data:
        break
    if data == b"/quit" or data == b"/quit\n":
        conn.sendall(b"bye\n")
        break
    conn.sendall(b"read %d bytes\n" % len(data))
conn.close()
srv.close()
