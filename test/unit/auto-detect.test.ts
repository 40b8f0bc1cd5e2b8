import t from 'tap';
import { encodeFrame } from '../../src/protocol/codec.js';
import { detectProtocol } from '../../src/transport/auto-detect.js';

const bytes = (s: string) => Buffer.from(s, 'latin1');

t.test('a native CONNECT frame is recognised from its 5th byte, and not before', async (t) => {
  const frame = encodeFrame({ t: 'CONNECT', v: [1] });
  for (let n = 0; n < 5; n++) t.equal(detectProtocol(frame.subarray(0, n)), 'more', `${n} bytes: wait`);
  for (let n = 5; n <= frame.length; n++) t.equal(detectProtocol(frame.subarray(0, n)), 'native', `${n} bytes`);
});

t.test('a STOMP CONNECT or STOMP frame, after heart-beat EOLs or not', async (t) => {
  for (const text of ['CONNECT\naccept-version:1.2\n\n\0', 'STOMP\r\nhost:x\r\n\r\n\0', '\n\r\n\nCONNECT\n\n\0']) {
    const eol = text.indexOf('\n', text.search(/[A-Z]/));
    // Up to the command's EOL it waits ("STOMP\r" included: the \n is still to come); with it, it is STOMP.
    for (let n = 0; n <= eol; n++) t.equal(detectProtocol(bytes(text.slice(0, n))), 'more', JSON.stringify(text.slice(0, n)));
    t.equal(detectProtocol(bytes(text.slice(0, eol + 1))), 'stomp', JSON.stringify(text.slice(0, eol + 1)));
    t.equal(detectProtocol(bytes(text)), 'stomp', JSON.stringify(text));
  }
});

t.test('anything else is an error naming what was expected and what came', async (t) => {
  const cases: [Buffer, RegExp, boolean][] = [
    [bytes('GET / HTTP/1.1\r\n'), /expected ferrymq native frames or a STOMP CONNECT frame, got 47 45 54 .*"GET \/ HTTP\/1.1.."/, true],
    [bytes('SEND\n'), /STOMP CONNECT frame, got/, true],
    [bytes('CONNECTED\n'), /STOMP CONNECT frame, got/, true],
    [bytes('CONNECT x\n'), /STOMP CONNECT frame, got/, true],
    [bytes('connect\n'), /STOMP CONNECT frame, got/, true],
    [bytes('\n'.repeat(33) + 'C'), /more than 32 empty lines/, true],
    [Buffer.from([0xff, 0x00]), /got ff 00/, true],
    [Buffer.concat([Buffer.from([0, 0, 0, 20, 1]), bytes('ActiveMQ')]), /OpenWire \(ActiveMQ's JMS client protocol\) is not supported/, false],
    [Buffer.from([0, 0, 0, 3, 0x93, 1, 2]), /not a ferrymq frame: a length prefix must be followed by a msgpack map/, false],
  ];
  for (const [buf, re, text] of cases) {
    const d = detectProtocol(buf);
    t.type(d, 'object', buf.toString('latin1'));
    t.match(d, { error: re, text }, buf.toString('latin1'));
  }
  // OpenWire is told apart once its magic is complete; until then it waits.
  t.equal(detectProtocol(Buffer.concat([Buffer.from([0, 0, 0, 20, 1]), bytes('Activ')])), 'more');
});
