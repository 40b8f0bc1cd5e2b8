import { InvalidArgumentError } from 'commander';

/** Repeatable option: `--header a=1 --header b=2`. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** An integer option within [min, max], with an error naming the flag. */
export function parseIntOption(flag: string, min: number, max: number): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${flag} must be an integer from ${min} to ${max}, got "${v}"`);
    }
    return n;
  };
}
