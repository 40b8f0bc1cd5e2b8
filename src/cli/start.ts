import { existsSync, rmSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { type ConfigOverrides, defaultConfig, loadConfigFile } from '../config/config.js';
import { FerryError } from '../errors.js';
import { createLogger } from '../log.js';
import { FerryNode } from '../node/ferry-node.js';
import { collect, parseIntOption } from './util.js';
import { fromRoot } from '../root.js';

/** The shipped single-node config, used when --conf is not given. */
const DEFAULT_CONF = fromRoot('conf/single.xml');

interface StartOptions {
  conf?: string;
  base?: string;
  name?: string;
  transport: string[];
  network: string[];
  data?: string;
  consolePort?: number;
  consoleHost?: string;
  console: boolean;
  lockAcquireSleepInterval?: number;
  lockKeepAlivePeriod?: number;
  pidFile?: string;
}

/** Exit code of a master that stopped itself because it lost its store lock. */
export const EXIT_LOCK_LOST = 3;

/** `ferrymq start`: run a broker node until SIGINT/SIGTERM. */
export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run a broker node in the foreground (stop it with Ctrl-C or SIGTERM)')
    .option('--conf <file>', 'broker config in ActiveMQ vocabulary (default: conf/single.xml of the package)')
    .option(
      '--base <dir>',
      'ActiveMQ base directory: ${activemq.base}, and ${activemq.conf}/${activemq.data} as DIR/conf and DIR/data ' +
        '(default: $ACTIVEMQ_BASE, or the parent of the config file\'s conf/ directory)',
    )
    .option('--name <name>', 'broker name (overrides brokerName)')
    .option('--transport <uri>', 'transport connector URI, repeatable; replaces the config file\'s connectors', collect, [])
    .option(
      '--network <uri>',
      'network connector URI, repeatable; replaces the config file\'s network connectors, e.g. "static:(tcp://127.0.0.1:61617)?networkTTL=2"',
      collect,
      [],
    )
    .option('--data <dir>', 'data directory (overrides dataDirectory)')
    .option('--console-port <n>', 'web console port', parseIntOption('--console-port', 0, 65535))
    .option('--console-host <host>', 'web console listen address (default 127.0.0.1; 0.0.0.0 inside a container)')
    .option('--no-console', 'do not start the web console')
    .option(
      '--lock-acquire-sleep-interval <ms>',
      'master/slave: a node waiting for the store lock retries this often (default 200)',
      parseIntOption('--lock-acquire-sleep-interval', 10, 3_600_000),
    )
    .option(
      '--lock-keep-alive-period <ms>',
      'master/slave: a master checks it still holds the lock this often; 0 never (default 1000)',
      parseIntOption('--lock-keep-alive-period', 0, 3_600_000),
    )
    .option('--pid-file <file>', 'write the broker\'s process id to this file once it accepts connections (removed on a clean stop)')
    .action(async (opts: StartOptions) => {
      const log = createLogger();
      const overrides: ConfigOverrides = {};
      if (opts.name !== undefined) overrides.brokerName = opts.name;
      if (opts.data !== undefined) overrides.dataDirectory = opts.data;
      if (opts.transport.length > 0) overrides.transports = opts.transport;
      if (opts.network.length > 0) overrides.networks = opts.network;
      if (opts.consolePort !== undefined) overrides.consolePort = opts.consolePort;
      if (opts.consoleHost !== undefined) overrides.consoleHost = opts.consoleHost;
      if (!opts.console) overrides.console = false;
      if (opts.lockAcquireSleepInterval !== undefined) overrides.lockAcquireSleepIntervalMs = opts.lockAcquireSleepInterval;
      if (opts.lockKeepAlivePeriod !== undefined) overrides.lockKeepAlivePeriodMs = opts.lockKeepAlivePeriod;
      let node: FerryNode;
      try {
        const conf = opts.conf ?? (existsSync(DEFAULT_CONF) ? DEFAULT_CONF : undefined);
        // The environment is read the way ActiveMQ's start script reads it (ACTIVEMQ_BASE, ACTIVEMQ_CONF, …).
        const placeholders = { env: process.env, ...(opts.base !== undefined ? { base: opts.base } : {}) };
        const { config, warnings } = conf !== undefined ? loadConfigFile(conf, overrides, placeholders) : defaultConfig(overrides);
        // A warning about an imported file (jetty.xml) names it: the message alone would point at the main file.
        for (const w of warnings) log.warn({ file: w.file }, w.file !== null && w.file !== conf ? `${w.file}: ${w.message}` : w.message);
        node = new FerryNode(config, log);
      } catch (err) {
        process.stderr.write(`ferrymq: ${(err as Error).message}\n`);
        process.exit(2);
      }
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'stopping on %s', signal);
        node.stop().then(
          () => {
            if (opts.pidFile !== undefined) rmSync(opts.pidFile, { force: true });
            log.flush?.();
            process.exit(0);
          },
          (err) => {
            log.error({ err }, 'stop failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      // The node runs until a signal says stop, even when nothing else holds the event loop (a config whose every
      // connector was skipped, a standby between lock attempts): stop() and the failure path end it with exit().
      setInterval(() => {}, 1 << 30);
      void node.whenFailed().then((err) => {
        // Another node may be master now: this one has closed its listeners and store, and says so by its exit code.
        process.stderr.write(`ferrymq: ${err.message}\n`);
        log.flush?.();
        process.exit(EXIT_LOCK_LOST);
      });
      try {
        await node.start();
        // Written once the connectors listen, so a script that waits for the file can connect at once; the pid
        // is this process's own (under npx, `$!` is npm's wrapper, and killing it leaves the broker running).
        if (opts.pidFile !== undefined) writeFileSync(opts.pidFile, `${process.pid}\n`);
        log.info('broker process id %d', process.pid);
      } catch (err) {
        // Stopped by a signal while starting (a standby waiting for the lock): stop() exits.
        if (stopping) return;
        const msg = err instanceof FerryError || (err as NodeJS.ErrnoException).code ? (err as Error).message : String(err);
        log.error({ err }, 'broker failed to start: %s', msg);
        process.stderr.write(`ferrymq: broker failed to start: ${msg}\n`);
        process.exit(1);
      }
    });
}
