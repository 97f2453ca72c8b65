// What a Ganeti node says about reaching its confd, as Ganeti's own client reads it: the key
// in /var/lib/ganeti/hmac.key and the master candidates' addresses in ssconf, each used when it
// exists and no flag or variable says otherwise. GANETI_ROOTDIR relocates both, as it does for
// Ganeti's tools.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function ganetiDir(env: NodeJS.ProcessEnv): string {
  return join(env.GANETI_ROOTDIR || '/', 'var/lib/ganeti');
}

/** Ganeti's hmac.key, when this is a Ganeti node. */
export function ganetiKeyFile(env: NodeJS.ProcessEnv): string | undefined {
  const f = join(ganetiDir(env), 'hmac.key');
  return existsSync(f) ? f : undefined;
}

/** The master candidates' addresses from ssconf (one per line), when this is a Ganeti node. */
export function masterCandidates(env: NodeJS.ProcessEnv): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(ganetiDir(env), 'ssconf_master_candidates_ips'), 'utf8');
  } catch {
    return undefined;
  }
  const ips = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return ips.length > 0 ? ips.join(',') : undefined;
}
