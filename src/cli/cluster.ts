import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { collect } from './util.js';
import { fromRoot } from '../root.js';

const BIN = fromRoot('bin/ferrymq');
const CONF_DIR = fromRoot('conf/');
/** The tutorial's three nodes: A on 61616 bridging to B (61617) and C (61618), which bridge back to A. */
export const DEFAULT_CLUSTER = ['node-a.xml', 'node-b.xml', 'node-c.xml'].map((f) => CONF_DIR + f);
const COLOURS = [36, 33, 35, 32, 34, 31];
const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** One log line of a node, readable: `[node-a] 12:00:01.123 INFO message`. */
export function formatLine(prefix: string, colour: number, line: string, tty: boolean): string {
  let text = line;
  try {
    const l = JSON.parse(line) as { time?: number; level?: number; msg?: string };
    const time = new Date(l.time ?? Date.now()).toISOString().slice(11, 23);
    text = `${time} ${(LEVELS[l.level ?? 30] ?? 'INFO').padEnd(5)} ${l.msg ?? ''}`;
  } catch {
    // not JSON (a crash trace): shown as it is
  }
  return tty ? `\x1b[${colour}m[${prefix}]\x1b[0m ${text}` : `[${prefix}] ${text}`;
}

/** `ferrymq cluster`: the three-node network on this machine, one terminal, stopped together with Ctrl-C. */
export function registerCluster(program: Command): void {
  program
    .command('cluster')
    .description('run several nodes in the foreground with prefixed logs (default: conf/node-a.xml, node-b.xml, node-c.xml)')
    .option('--conf <file>', 'a node\'s config, repeatable', collect, [])
    .action((opts: { conf: string[] }) => {
      const confs = opts.conf.length > 0 ? opts.conf : DEFAULT_CLUSTER;
      const tty = process.stdout.isTTY === true;
      const children: ChildProcess[] = [];
      let stopping = false;
      const stop = (): void => {
        if (stopping) return;
        stopping = true;
        for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
      };
      confs.forEach((conf, i) => {
        const prefix = basename(conf).replace(/\.xml$/, '');
        const colour = COLOURS[i % COLOURS.length]!;
        const child = spawn(process.execPath, [BIN, 'start', '--conf', conf], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env },
        });
        children.push(child);
        for (const s of [child.stdout!, child.stderr!]) {
          createInterface({ input: s }).on('line', (line) => process.stdout.write(`${formatLine(prefix, colour, line, tty)}\n`));
        }
        child.on('exit', (code, signal) => {
          process.stdout.write(`${formatLine(prefix, colour, `exited (${signal ?? `code ${code}`})`, tty)}\n`);
          if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) process.exit(stopping ? 0 : 1);
        });
      });
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
}
