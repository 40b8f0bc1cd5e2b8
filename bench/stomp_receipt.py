# One STOMP client (stomp.py, Debian's python3-stomp) sending COUNT persistent 1 KiB messages to one queue, each
# with a receipt it waits for before the next send. Prints "COUNT SECONDS MSG_PER_SEC P50_MS P99_MS".
#   python3 bench/stomp_receipt.py PORT COUNT [persistent true|false]
import sys, threading, time, stomp

port, count = int(sys.argv[1]), int(sys.argv[2])
persistent = sys.argv[3] if len(sys.argv) > 3 else 'true'
got = threading.Event()
failed = []

class Listener(stomp.ConnectionListener):
    def on_receipt(self, frame):
        got.set()

    def on_error(self, frame):
        failed.append(frame.body)
        got.set()

conn = stomp.Connection12([('127.0.0.1', port)], heartbeats=(0, 0))
conn.set_listener('', Listener())
conn.connect(wait=True)
body = 'a' * 1024
lat = []
t0 = time.perf_counter()
for i in range(count):
    got.clear()
    s = time.perf_counter()
    conn.send('/queue/bench.receipt', body, headers={'persistent': persistent, 'receipt': str(i)})
    if not got.wait(30):
        sys.exit(f'no RECEIPT for message {i} within 30 s')
    if failed:
        sys.exit(f'ERROR frame: {failed[0]}')
    lat.append(time.perf_counter() - s)
t = time.perf_counter() - t0
lat.sort()
print(f'{count} {t:.3f} {count / t:.0f} {lat[len(lat) // 2] * 1000:.3f} {lat[int(len(lat) * 0.99)] * 1000:.3f}')
conn.disconnect()
