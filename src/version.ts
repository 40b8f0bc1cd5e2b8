import { readFileSync } from 'node:fs';
import { ROOT_URL } from './root.js';

/** This build's version, from package.json. */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('package.json', ROOT_URL), 'utf8')) as { version: string }
).version;
