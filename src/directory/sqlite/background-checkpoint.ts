import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** How often the background connection copies the WAL into the database file. */
const INTERVAL_MS = 200;
/** How long stop() waits for the last checkpoint and close. */
const STOP_TIMEOUT_MS = 5000;

/**
 * The checkpointer's code, run as a plain-JavaScript worker (no TypeScript loader reaches worker
 * threads). PASSIVE never waits for or blocks readers and writers; a failure (busy, I/O) is
 * simply tried again at the next tick, and the writer's own autocheckpoint stays as a backstop.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 0');
db.pragma('synchronous = NORMAL');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
}, workerData.intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
  db.close();
  parentPort.postMessage('closed');
});
`;

export interface BackgroundCheckpoint {
  stop(): Promise<void>;
}

/**
 * Checkpoints the WAL of `file` from a worker thread. A checkpoint writes every page of the WAL
 * into the database file and fsyncs it; run by the writing connection (SQLite's default) that
 * cost lands on whichever commit crosses the threshold, and on the embedded store it was most of
 * a SCIM write's time. The writer keeps a high autocheckpoint threshold as a backstop in case
 * this thread falls behind (see openSqlite).
 */
export function startBackgroundCheckpoint(file: string): BackgroundCheckpoint {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver, intervalMs: INTERVAL_MS } });
  worker.unref();
  // A worker that dies (the file vanished, the driver failed to load) leaves the writer's own checkpoints in charge.
  worker.on('error', () => undefined);
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    stop: async () => {
      const closed = new Promise<void>((resolve) => worker.once('message', () => resolve()));
      worker.postMessage('stop');
      // Bounded: a worker stuck in I/O is terminated rather than holding up shutdown.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_TIMEOUT_MS)))]);
      clearTimeout(timer);
      await worker.terminate();
    },
  };
}
