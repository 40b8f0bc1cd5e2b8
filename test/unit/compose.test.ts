import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { loadConfigFile } from '../../src/config/config.js';
import { parseEndpointUri, parseNetworkUri } from '../../src/transport/uri.js';
import { ROOT } from '../helpers/broker.js';

/**
 * docker-compose.yml runs the same three nodes as conf/node-*.xml. Docker is not on these machines, so this test
 * reads the compose file and checks every service against its config file: name, ports, network peers.
 */
interface Service {
  profiles?: string[];
  command: string[];
  ports: string[];
  volumes?: string[];
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };
const services = Object.entries(compose.services);

/** The value after `flag` in a command line (all of them for a repeatable flag). */
function flag(cmd: string[], name: string): string[] {
  const out: string[] = [];
  cmd.forEach((a, i) => {
    if (a === name && cmd[i + 1] !== undefined) out.push(cmd[i + 1]!);
  });
  return out;
}

/** The default services, and each profile's: each group is one cluster, with its own ports. */
const groupOf = (svc: Service): string => svc.profiles?.[0] ?? 'default';

t.test('compose runs the three network nodes, and the tutorial topology as a profile', async (t) => {
  t.same(services.filter(([, s]) => groupOf(s) === 'default').map(([name]) => name).sort(), ['node-a', 'node-b', 'node-c']);
  t.same(services.filter(([, s]) => groupOf(s) === 'tutorial').map(([name]) => name).sort(), ['tutorial-a', 'tutorial-b', 'tutorial-c']);
  // The master/slave pair shares one volume; every other node has its own.
  const vol = (n: string): string | undefined => compose.services[n]!.volumes?.[0]?.split(':')[0];
  t.equal(vol('tutorial-b'), vol('tutorial-c'), 'tutorial-b and tutorial-c share their store volume');
  const others = ['node-a', 'node-b', 'node-c', 'tutorial-a'].map(vol);
  t.equal(new Set([...others, vol('tutorial-b')]).size, 5, 'no other node shares a volume');
  const b = compose.services['tutorial-b']!;
  const c = compose.services['tutorial-c']!;
  t.same(flag(b.command, '--data'), flag(c.command, '--data'), 'and the same data directory in it');
});

const files = new Map<string, ReturnType<typeof loadConfigFile>['config']>();
for (const [name, svc] of services) {
  const conf = flag(svc.command, '--conf')[0]!;
  files.set(name, loadConfigFile(join(ROOT, conf)).config);
}
/** Which service of `group` serves a config's `127.0.0.1:PORT`. */
function serviceOnPort(group: string, port: number): string | undefined {
  for (const [name, c] of files) {
    if (groupOf(compose.services[name]!) === group && c.transportConnectors.some((tc) => tc.endpoint.port === port)) return name;
  }
  return undefined;
}

for (const [name, svc] of services) {
  t.test(`service ${name} matches ${flag(svc.command, '--conf')[0]}`, async (t) => {
    const cmd = svc.command;
    t.equal(cmd[0], 'start', 'runs ferrymq start');
    const conf = files.get(name)!;
    t.equal(conf.brokerName, name, 'service named after the broker');
    // Transport: the config's connector, bound to 0.0.0.0 inside the container, same port and options.
    const transports = flag(cmd, '--transport');
    t.equal(transports.length, conf.transportConnectors.length, 'one --transport per connector of the config');
    for (const [i, tc] of conf.transportConnectors.entries()) {
      const ep = parseEndpointUri(transports[i]!);
      t.equal(ep.host, '0.0.0.0', 'listens on every interface of the container');
      t.equal(ep.port, tc.endpoint.port, `port ${tc.endpoint.port} as in the config`);
      t.same(ep.options, tc.endpoint.options, 'the same connector options');
      t.ok(svc.ports.includes(`${ep.port}:${ep.port}`), `publishes ${ep.port}`);
    }
    t.ok(svc.ports.includes(`${conf.webConsole.port}:${conf.webConsole.port}`), `publishes its console port ${conf.webConsole.port}`);
    t.same(flag(cmd, '--console-host'), ['0.0.0.0']);
    const data = flag(cmd, '--data');
    t.equal(data.length, 1, 'one --data');
    t.ok(svc.volumes?.some((v) => v.endsWith(`:${data[0]}`)), `the store on a volume at ${data[0]}`);
    // Network: the config's peers, each 127.0.0.1:PORT replaced by the service listening on that port.
    const nets = flag(cmd, '--network');
    t.equal(nets.length, conf.networkConnectors.length, 'one --network per network connector of the config');
    for (const [i, nc] of conf.networkConnectors.entries()) {
      const want = nc.network.kind === 'multicast' ? [] : nc.network.endpoints.map((e) => `${serviceOnPort(groupOf(svc), e.port)}:${e.port}`);
      const got = parseNetworkUri(nets[i]!);
      t.equal(got.kind, nc.network.kind);
      t.same(got.kind === 'multicast' ? [] : got.endpoints.map((e) => `${e.host}:${e.port}`), want, 'the same peers, by service name');
    }
    // And the whole command line is a valid configuration.
    const loaded = loadConfigFile(join(ROOT, flag(cmd, '--conf')[0]!), {
      dataDirectory: flag(cmd, '--data')[0]!,
      transports,
      networks: nets,
      consoleHost: '0.0.0.0',
    });
    t.equal(loaded.config.transportConnectors[0]!.endpoint.host, '0.0.0.0');
  });
}
