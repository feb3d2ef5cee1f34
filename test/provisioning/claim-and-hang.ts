/**
 * A Rolecall process that claims one job and then never finishes it, for the crash test to
 * SIGKILL: `node --import tsx claim-and-hang.ts <sqlite|postgres> <file-or-url> <leaseMs>`.
 * Prints the claimed job id on stdout.
 */
import { JobQueue } from '../../src/provisioning/job-queue.ts';
import { openStore } from './store-databases.ts';

const [dialect, location, leaseMs] = process.argv.slice(2);
const database = openStore(dialect === 'postgres' ? 'postgres' : 'sqlite', location!);
const [job] = await new JobQueue(database, { leaseMs: Number(leaseMs) }).claim('doomed', { target: 'db1', limit: 1 });
process.stdout.write(`${job?.id ?? 'none'}\n`);
setInterval(() => {}, 60_000);
