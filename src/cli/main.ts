import { Command } from 'commander';
import { VERSION } from '../version.js';

type Register = (program: Command) => void;

/**
 * Each subcommand's module, loaded only when it runs: `ferrymq start` does not load the client, the progress bars
 * or the demo, and `ferrymq producer` does not load the broker (start-up time is what a standby's takeover and
 * every CLI command pay).
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  start: async () => (await import('./start.js')).registerStart,
  producer: async () => (await import('./producer.js')).registerProducer,
  consumer: async () => (await import('./consumer.js')).registerConsumer,
  dstat: async () => (await import('./dstat.js')).registerDstat,
  browse: async () => (await import('./browse.js')).registerBrowse,
  purge: async () => (await import('./purge.js')).registerPurge,
  cluster: async () => (await import('./cluster.js')).registerCluster,
  demo: async () => (await import('./demo.js')).registerDemo,
  passwd: async () => (await import('./security.js')).registerPasswd,
};

const program = new Command();
program
  .name('ferrymq')
  .description('ferrymq: a small, fast message broker in the ActiveMQ tradition')
  .version(VERSION)
  .showHelpAfterError();

async function main(): Promise<void> {
  const named = process.argv[2];
  // A known subcommand registers alone; anything else (help, --version, a typo) registers all, in this order,
  // so the help lists every command and commander's "did you mean" has them all.
  const load = named !== undefined && Object.hasOwn(COMMANDS, named) ? [COMMANDS[named]!] : Object.values(COMMANDS);
  for (const register of await Promise.all(load.map((l) => l()))) register(program);
  await program.parseAsync(process.argv);
}

main().catch((err: Error) => {
  process.stderr.write(`ferrymq: ${err.message}\n`);
  process.exit(1);
});
