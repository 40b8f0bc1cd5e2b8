import { Command } from 'commander';
import { VERSION } from '../version.js';
import { registerBrowse } from './browse.js';
import { registerCluster } from './cluster.js';
import { registerDemo } from './demo.js';
import { registerConsumer } from './consumer.js';
import { registerDstat } from './dstat.js';
import { registerProducer } from './producer.js';
import { registerPurge } from './purge.js';
import { registerStart } from './start.js';

const program = new Command();
program
  .name('ferrymq')
  .description('ferrymq: a small, fast message broker in the ActiveMQ tradition')
  .version(VERSION)
  .showHelpAfterError();
registerStart(program);
registerProducer(program);
registerConsumer(program);
registerDstat(program);
registerBrowse(program);
registerPurge(program);
registerCluster(program);
registerDemo(program);

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`ferrymq: ${err.message}\n`);
  process.exit(1);
});
