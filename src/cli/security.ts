/**
 * The client subcommands' security options (`--user`, `--password`, `--ca`, `--cert`, `--key`), and `ferrymq
 * passwd`, which hashes a password for `<authenticationUser password=…>`.
 */
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { hashPassword } from '../security/passwords.js';
import type { ClientConnectOptions } from './util.js';

/** What the security options leave in a command's parsed options. */
export interface SecurityOptions {
  user?: string;
  password?: string;
  ca?: string;
  cert?: string;
  key?: string;
}

/** Add the security options to a client subcommand. */
export function securityOptions(cmd: Command): Command {
  return cmd
    .option('--user <name>', 'user name for the broker\'s authentication (<simpleAuthenticationPlugin>)')
    .option('--password <pw>', 'password of --user (default: $FERRYMQ_PASSWORD, which keeps it out of the process list)')
    .option('--ca <file>', 'PEM CA certificate(s) to trust for ssl:// URLs, besides Node\'s own and NODE_EXTRA_CA_CERTS')
    .option('--cert <file>', 'PEM client certificate for an ssl:// connector with needClientAuth (with --key)')
    .option('--key <file>', 'PEM private key of --cert');
}

function pem(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new InvalidArgumentError(`${flag} ${file}: ${(err as Error).message}`);
  }
}

/** Connect options from the parsed security options. @throws InvalidArgumentError for an unreadable file or a half pair */
export function connectSecurity(o: SecurityOptions): ClientConnectOptions {
  const out: ClientConnectOptions = {};
  const password = o.password ?? process.env['FERRYMQ_PASSWORD'];
  if (o.user !== undefined) {
    out.user = o.user;
    out.password = password ?? '';
  } else if (o.password !== undefined) throw new InvalidArgumentError('--password needs --user');
  if ((o.cert === undefined) !== (o.key === undefined)) throw new InvalidArgumentError('--cert and --key go together');
  if (o.ca !== undefined || o.cert !== undefined) {
    out.tls = {};
    if (o.ca !== undefined) out.tls.ca = pem('--ca', o.ca);
    if (o.cert !== undefined) out.tls.cert = pem('--cert', o.cert);
    if (o.key !== undefined) out.tls.key = pem('--key', o.key);
  }
  return out;
}

/** Read a password without echo from a terminal, or one line from piped stdin. */
async function readPassword(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0]!;
  }
  process.stderr.write('password: ');
  stdin.setRawMode(true);
  return new Promise((resolve, reject) => {
    let s = '';
    const onData = (b: Buffer): void => {
      for (const ch of b.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          stdin.setRawMode(false);
          stdin.off('data', onData);
          stdin.pause();
          process.stderr.write('\n');
          return resolve(s);
        }
        if (ch === '\u0003') {
          stdin.setRawMode(false);
          return reject(new Error('cancelled'));
        }
        if (ch === '\u007f') s = s.slice(0, -1);
        else s += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** `ferrymq passwd`: print a scrypt hash of a password, for `<authenticationUser password="…">`. */
export function registerPasswd(program: Command): void {
  program
    .command('passwd')
    .summary('hash a password for <authenticationUser password="…">')
    .description('read a password (typed without echo, or one line on stdin) and print its salted scrypt hash, to paste into ' +
      '<authenticationUser password="…"/>: the config then holds no password')
    .action(async () => {
      const password = await readPassword();
      if (password === '') throw new Error('empty password');
      process.stdout.write(`${await hashPassword(password)}\n`);
    });
}
