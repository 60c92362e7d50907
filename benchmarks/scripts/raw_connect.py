"""The baseline: one MQTT 3.1.1 CONNECT and DISCONNECT over a raw socket, no library.

Usage: python raw_connect.py PORT (connects to 127.0.0.1).
"""

import socket
import sys

# CONNECT: clean session, keep-alive 60, client ID "rawbaseline01".
CONNECT = bytes.fromhex("101900044d5154540402003c000d72617762617365 6c696e653031".replace(" ", ""))

sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
sock.sendall(CONNECT)
answer = b""
while len(answer) < 4:
    data = sock.recv(4 - len(answer))
    if not data:
        sys.exit("closed before CONNACK")
    answer += data
if answer != b"\x20\x02\x00\x00":
    sys.exit(f"refused: {answer.hex()}")
sock.sendall(b"\xe0\x00")
sock.close()
