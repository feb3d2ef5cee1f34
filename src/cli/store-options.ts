import type { Command } from 'commander';
import { loadServerConfig, type ServerConfig } from '../app/config.ts';
import { openRolecall, type Rolecall } from '../app/open-rolecall.ts';

/** `--store` and `--data-dir`, shared by every command that opens the store. */
export function withStoreOptions(command: Command): Command {
  return command
    .option('--store <store>', 'sqlite (embedded, default) or a postgres:// URL [env ROLECALL_STORE]')
    .option('--data-dir <dir>', 'folder of the embedded store [env ROLECALL_DATA_DIR] (default ./data)');
}

export function configFrom(options: Record<string, unknown>): ServerConfig {
  return loadServerConfig({ store: options.store, dataDir: options.dataDir });
}

/** Opens the store as a tool: shares the embedded store with a running server instead of locking it. */
export async function withTool<T>(options: Record<string, unknown>, fn: (app: Rolecall) => Promise<T>): Promise<T> {
  const app = await openRolecall(configFrom(options), { exclusive: false });
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

export const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
