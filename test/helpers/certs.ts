/**
 * A throwaway PKI for the TLS tests, made at test time with the openssl CLI (.ci/run installs it): a CA, and
 * certificates it signs for 127.0.0.1 / localhost (brokers) or for a client name. EC P-256 keys: quick to make.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Pki {
  dir: string;
  /** The CA's certificate (what a trustStore or --ca names). */
  caCert: string;
  caKey: string;
}

export interface Issued {
  cert: string;
  key: string;
  /** Certificate and key in one PEM file (a keyStore). */
  pem: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A new self-signed CA named `name` in `dir`. */
export function makeCa(dir: string, name: string): Pki {
  const caKey = join(dir, `${name}.key`);
  const caCert = join(dir, `${name}.crt`);
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', caKey, '-out', caCert,
    '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { dir, caCert, caKey };
}

/** A certificate signed by `ca` for `name` (subjectAltName 127.0.0.1 and localhost), usable by servers and clients. */
export function issue(ca: Pki, name: string): Issued {
  const key = join(ca.dir, `${name}.key`);
  const csr = join(ca.dir, `${name}.csr`);
  const cert = join(ca.dir, `${name}.crt`);
  const ext = join(ca.dir, `${name}.ext`);
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  openssl(ca.dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
  openssl(ca.dir, ['x509', '-req', '-in', csr, '-CA', ca.caCert, '-CAkey', ca.caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
  const pem = join(ca.dir, `${name}.pem`);
  execFileSync('sh', ['-c', `cat "${cert}" "${key}" > "${pem}"`]);
  return { cert, key, pem };
}
