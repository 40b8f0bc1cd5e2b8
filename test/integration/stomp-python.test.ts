// Interop with Debian's python3-stomp (stomp.py), driven by a small script under /usr/bin/python3 (the system Python
// that Debian's package installs into, whatever python3 comes first on PATH). CI installs the package (.ci/run).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startStompBroker, tempDir } from '../helpers/broker.js';

const PYTHON = '/usr/bin/python3';

const SCRIPT = String.raw`
import json, sys, threading, time, uuid
import stomp

port, n = int(sys.argv[1]), int(sys.argv[2])
run = uuid.uuid4().hex
out = {'errors': []}

class Inbox(stomp.ConnectionListener):
    def __init__(self, on_message=None):
        self.msgs, self.cv, self.on_msg = [], threading.Condition(), on_message
    def on_message(self, frame):
        with self.cv:
            self.msgs.append(frame)
            self.cv.notify_all()
        if self.on_msg: self.on_msg(frame)
    def on_error(self, frame):
        out['errors'].append(frame.headers.get('message'))
    def wait(self, count, timeout=20):
        deadline = time.time() + timeout
        with self.cv:
            while len(self.msgs) < count and time.time() < deadline:
                self.cv.wait(max(0.01, deadline - time.time()))
        return [(f.body, dict(f.headers)) for f in self.msgs]

def connect(cls=stomp.Connection12, client_id=None, on_message=None):
    kw = {} if cls is stomp.Connection10 else {'heartbeats': (2000, 2000)}
    c = cls([('127.0.0.1', port)], **kw)
    inbox = Inbox(on_message)
    c.set_listener('inbox', inbox)
    c.connect('guest', 'guest', wait=True, headers={'client-id': client_id} if client_id else {})
    return c, inbox

def close(c):
    # disconnect() sends DISCONNECT and returns; the broker's RECEIPT ends the connection a little later.
    c.disconnect()
    deadline = time.time() + 10
    while c.is_connected() and time.time() < deadline: time.sleep(0.01)

def quiet(dest):
    """What is left on a queue: nothing, if every message was acknowledged."""
    c, inbox = connect()
    c.subscribe(dest, id='q', ack='auto')
    time.sleep(0.5)
    c.disconnect()
    return len(inbox.msgs)

# 1. send N unique persistent messages; consume with client-individual acks (1.2: by the ack header).
p, _ = connect()
for i in range(n):
    p.send('/queue/py.work', 'py-%d-%s' % (i, run), headers={'persistent': 'true', 'x-seq': str(i)})
c, inbox = None, None
def ack12(f): c.ack(f.headers['ack'])
c, inbox = connect(on_message=ack12)
c.subscribe('/queue/py.work', id='w', ack='client-individual', headers={'activemq.prefetchSize': '100'})
got = inbox.wait(n)
c.disconnect()
bodies = [b for b, _ in got]
out['work'] = {'count': len(bodies), 'unique': len(set(bodies)), 'in_order': bodies == ['py-%d-%s' % (i, run) for i in range(n)],
               'headers_ok': all(h.get('x-seq') == str(i) and h.get('persistent') == 'true' for i, (_, h) in enumerate(got)),
               'left': quiet('/queue/py.work')}

# 2. NACK: the first delivery is NACKed, the redelivery (redelivered:true) ACKed.
p.send('/queue/py.nack', 'again')
def nack_first(f):
    if f.headers.get('redelivered') == 'true': c.ack(f.headers['ack'])
    else: c.nack(f.headers['ack'])
c, inbox = connect(on_message=nack_first)
c.subscribe('/queue/py.nack', id='n', ack='client-individual')
got = inbox.wait(2)
c.disconnect()
out['nack'] = {'deliveries': [(b, h.get('redelivered')) for b, h in got], 'left': quiet('/queue/py.nack')}

# 3. BEGIN/ABORT drops the sends; BEGIN/COMMIT delivers them.
tx = p.begin()
for i in range(5): p.send('/queue/py.tx', 'aborted-%d' % i, transaction=tx)
p.abort(tx)
tx = p.begin()
for i in range(5): p.send('/queue/py.tx', 'committed-%d' % i, transaction=tx)
p.commit(tx)
c, inbox = connect()
c.subscribe('/queue/py.tx', id='t', ack='auto')
got = inbox.wait(5)
time.sleep(0.3)
got = inbox.wait(0)
c.disconnect()
out['tx'] = [b for b, _ in got]

# 4. Durable subscription: offline messages wait; UNSUBSCRIBE with activemq.subscriptionName removes it.
durable = {'activemq.subscriptionName': 'py-sub'}
d, inbox = connect(client_id='py-durable')
d.subscribe('/topic/py.events', id='d', ack='auto', headers=durable)
close(d)
for i in range(10): p.send('/topic/py.events', 'offline-%d' % i, headers={'persistent': 'true'})
d, inbox = connect(client_id='py-durable')
d.subscribe('/topic/py.events', id='d', ack='auto', headers=durable)
offline = [b for b, _ in inbox.wait(10)]
d.unsubscribe(id='d', headers=durable)
close(d)
p.send('/topic/py.events', 'after-removal', headers={'persistent': 'true'})
d, inbox = connect(client_id='py-durable')
d.subscribe('/topic/py.events', id='d', ack='auto', headers=durable)
time.sleep(0.5)
d.disconnect()
out['durable'] = {'offline': offline, 'after_removal': len(inbox.msgs)}

# 5. STOMP 1.1 (ACK by message-id + subscription) and 1.0 (ACK by message-id; client mode is cumulative).
for i in range(20): p.send('/queue/py.v11', 'v11-%d' % i)
def ack11(f): c.ack(f.headers['message-id'], f.headers['subscription'])
c, inbox = connect(stomp.Connection11, on_message=ack11)
c.subscribe('/queue/py.v11', id='v', ack='client-individual')
out['v11'] = {'count': len(inbox.wait(20)), 'left': None}
c.disconnect()
out['v11']['left'] = quiet('/queue/py.v11')
for i in range(20): p.send('/queue/py.v10', 'v10-%d' % i)
c, inbox = connect(stomp.Connection10)
c.subscribe('/queue/py.v10', id='v', ack='client')
got10 = inbox.wait(20)
c.ack(inbox.msgs[-1].headers['message-id'])
time.sleep(0.2)
c.disconnect()
out['v10'] = {'count': len(got10), 'left': quiet('/queue/py.v10')}

# 6. Header escaping (1.2) round trip.
c, inbox = connect()
c.subscribe('/queue/py.esc', id='e', ack='auto')
time.sleep(0.2)
p.send('/queue/py.esc', 'esc', headers={'x-weird': 'a:b\nc\\d'})
out['escaped'] = inbox.wait(1)[0][1].get('x-weird') if inbox.wait(1) else None
c.disconnect()
p.disconnect()
print(json.dumps(out))
`;

const probe = spawnSync(PYTHON, ['-c', 'import stomp; print(stomp.__version__)'], { encoding: 'utf8' });
const skip = probe.status === 0 ? false : `python3-stomp is not installed: ${PYTHON} cannot import stomp (apt-get install python3-stomp; .ci/run installs it)`;

t.test('python3-stomp: send, subscribe, ack, nack, transactions, durable subscriptions, 1.0/1.1/1.2', { skip }, async (t) => {
  t.comment(`stomp.py ${probe.stdout.trim()}`);
  const b = await startStompBroker(t);
  const dir = tempDir(t, 'ferrymq-py-');
  const script = join(dir, 'interop.py');
  writeFileSync(script, SCRIPT);
  const n = 1000;
  const r = spawnSync(PYTHON, [script, String(b.stompPort), String(n)], { encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, `the script ran (stderr: ${r.stderr.slice(-2000)})`);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}');
  t.same(out.errors, [], 'no ERROR frames');
  t.same(out.work, { count: n, unique: n, in_order: true, headers_ok: true, left: 0 }, `${n} unique messages, acked one by one, none left`);
  t.same(out.nack, { deliveries: [['again', null], ['again', 'true']], left: 0 }, 'NACK redelivers, marked redelivered');
  t.same(out.tx, [0, 1, 2, 3, 4].map((i) => `committed-${i}`), 'ABORT drops, COMMIT delivers');
  t.same(out.durable, { offline: Array.from({ length: 10 }, (_, i) => `offline-${i}`), after_removal: 0 }, 'durable subscription kept messages while away, then was removed');
  t.same(out.v11, { count: 20, left: 0 }, 'STOMP 1.1 acks by message-id + subscription');
  t.same(out.v10, { count: 20, left: 0 }, 'STOMP 1.0 client mode: one ACK of the last message acknowledges all');
  t.equal(out.escaped, 'a:b\nc\\d', 'escaped header value survives');
});
