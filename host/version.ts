/** The host's version: package.json's, read once, so /healthz and logs name the build that answers. */
import { readFileSync } from 'node:fs';

let version: string | undefined;

export function hostVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return version;
}
