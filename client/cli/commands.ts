// Every qconf command, in help order, as a loader of its module: a command loads only its own
// code (a `qconf get` compiles no more than it needs, which is most of its start-up time).
import type { Command } from './common.js';

export const COMMANDS: Record<string, () => Promise<Command>> = {
  get: async () => (await import('./query.js')).getCommand,
  mget: async () => (await import('./query.js')).mgetCommand,
  list: async () => (await import('./query.js')).listCommand,
  ping: async () => (await import('./ping.js')).pingCommand,
  stats: async () => (await import('./stats.js')).statsCommand,
  keygen: async () => (await import('./keygen.js')).keygenCommand,
  'key-id': async () => (await import('./keygen.js')).keyIdCommand,
  wait: async () => (await import('./wait.js')).waitCommand,
  watch: async () => (await import('./watch.js')).watchCommand,
  publish: async () => (await import('./publish.js')).publishCommand,
  sign: async () => (await import('./sign.js')).signCommand,
  ganeti: async () => (await import('./ganeti.js')).ganetiCommand,
};

/** Every command's table, in help order (for the help and the README's exit-code table). */
export async function allSpecs(): Promise<Command['spec'][]> {
  return Promise.all(Object.values(COMMANDS).map(async (load) => (await load()).spec));
}
