import type { Kysely } from 'kysely';
import type { SqlDialect } from '../../src/directory/database.ts';
import type { AuditEventInput } from '../../src/audit/audit-log.ts';
import { AuditBlocks } from '../../src/audit/audit-blocks.ts';
import { canonicalJson } from '../../src/audit/canonical-json.ts';
import { eventHash } from '../../src/audit/event-hash.ts';

/** 12 columns x 500 rows stays under SQLite's 32,766 and PostgreSQL's 65,535 bound parameters. */
const ROWS_PER_INSERT = 500;

/**
 * Appends `count` events the fast way for volume tests and the bench: same hash function,
 * head update and block summaries as AuditLog.append, but hundreds of rows per INSERT in one transaction.
 * Event i is `make(i)` at `start + i * stepMs`.
 */
export async function bulkLoad(
  db: Kysely<any>,
  dialect: SqlDialect,
  count: number,
  make: (i: number) => AuditEventInput,
  options: { start?: Date; stepMs?: number } = {},
): Promise<void> {
  const start = (options.start ?? new Date('2026-01-01T00:00:00.000Z')).getTime();
  const stepMs = options.stepMs ?? 1;
  await db.transaction().execute(async (tx) => {
    const headQuery = tx.selectFrom('audit_head').select(['last_seq', 'last_hash']).where('id', '=', 1);
    const head = await (dialect === 'postgres' ? headQuery.forUpdate() : headQuery).executeTakeFirstOrThrow();
    const headSeq = Number(head.last_seq);
    let seq = headSeq;
    let prevHash = head.last_hash as string;
    for (let done = 0; done < count; ) {
      const rows = [];
      for (const end = Math.min(count, done + ROWS_PER_INSERT); done < end; done += 1) {
        const input = make(done);
        seq += 1;
        const fields = {
          seq,
          at: new Date(start + done * stepMs).toISOString(),
          type: input.type,
          tenantId: input.tenantId ?? null,
          requestId: input.requestId ?? null,
          actor: input.actor ?? 'system',
          userId: input.userId ?? null,
          groupId: input.groupId ?? null,
          target: input.target ?? null,
          payload: canonicalJson(input.payload ?? {}),
          prevHash,
        };
        const hash = eventHash(fields);
        rows.push({
          seq,
          at: fields.at,
          type: fields.type,
          tenant_id: fields.tenantId,
          request_id: fields.requestId,
          actor: fields.actor,
          user_id: fields.userId,
          group_id: fields.groupId,
          target: fields.target,
          payload: fields.payload,
          prev_hash: prevHash,
          hash,
        });
        prevHash = hash;
      }
      await tx.insertInto('audit_events').values(rows).execute();
    }
    await tx.updateTable('audit_head').set({ last_seq: seq, last_hash: prevHash }).where('id', '=', 1).execute();
    await new AuditBlocks().completed(tx, headSeq, seq);
  });
}
