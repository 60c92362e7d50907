"""paho-mqtt's way of doing the same: connect, wait for CONNACK, disconnect.

Usage: python paho_connect.py PORT (connects to 127.0.0.1).
"""

import sys

import paho.mqtt.client as mqtt

connected = []
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="pahobaseline01")  # type: ignore[attr-defined]
client.on_connect = lambda client, userdata, flags, code, properties: connected.append(code)
client.connect("127.0.0.1", int(sys.argv[1]), keepalive=60)
for _ in range(100):
    client.loop(timeout=0.1)
    if connected:
        break
if not connected or connected[0] != 0:
    sys.exit(f"no CONNACK 0: {connected}")
client.disconnect()
