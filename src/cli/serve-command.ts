import type { Command } from 'commander';
import { loadServerConfig } from '../app/config.ts';
import { startServer } from '../app/start-server.ts';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the SCIM server (and, with --policy, the provisioning engine)')
    .option('--host <host>', 'listen address [env ROLECALL_HOST] (default 127.0.0.1)')
    .option('--port <port>', 'listen port [env ROLECALL_PORT] (default 8080)')
    .option('--store <store>', 'sqlite (embedded, default) or a postgres:// URL [env ROLECALL_STORE]')
    .option('--data-dir <dir>', 'folder of the embedded store [env ROLECALL_DATA_DIR] (default ./data)')
    .option('--tls-cert <file>', 'PEM certificate; serve HTTPS [env ROLECALL_TLS_CERT]')
    .option('--tls-key <file>', 'PEM private key [env ROLECALL_TLS_KEY]')
    .option('--public-url <url>', 'external base URL for meta.location [env ROLECALL_PUBLIC_URL]')
    .option('--policy <file>', 'access policy file (YAML or JSON) [env ROLECALL_POLICY]')
    .option('--admin-token <token>', 'bearer token of the admin API [env ROLECALL_ADMIN_TOKEN]')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent [env ROLECALL_LOG_LEVEL]')
    .action(async (options: Record<string, unknown>) => {
      const config = loadServerConfig(options);
      const server = await startServer(config);
      const stop = async (signal: string) => {
        server.logger.info({ signal }, 'shutting down');
        await server.close();
        process.exit(0);
      };
      // SIGHUP re-reads the policy; a bad file keeps the running policy and says why.
      process.on('SIGHUP', () => {
        if (!config.policy) return server.logger.warn('SIGHUP ignored: no --policy');
        server.reload().catch((error: unknown) => server.logger.error({ err: error }, 'policy reload failed; the previous policy stays in force'));
      });
      process.once('SIGINT', () => void stop('SIGINT'));
      process.once('SIGTERM', () => void stop('SIGTERM'));
    });
}
