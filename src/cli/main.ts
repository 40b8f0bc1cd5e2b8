import { Command } from 'commander';
import { VERSION } from '../version.js';
import { registerStart } from './start.js';

const program = new Command();
program
  .name('ferrymq')
  .description('ferrymq: a small, fast message broker in the ActiveMQ tradition')
  .version(VERSION)
  .showHelpAfterError();
registerStart(program);

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`ferrymq: ${err.message}\n`);
  process.exit(1);
});
