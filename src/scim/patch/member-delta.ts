import type { MemberInput } from '../resource-input/member-input.ts';
import type { MemberRef } from '../resource-store.ts';

/**
 * Membership changes a PATCH asks for. The store applies them in this order: remove every member
 * (when `clear`), remove the `remove` ids, add the `add` members. `add` and `remove` never name the
 * same id, so the last operation on a member in the request wins.
 */
export interface MemberDelta {
  clear: boolean;
  add: { value: string; type?: string }[];
  remove: string[];
}

/**
 * Folds member operations, in request order, into one MemberDelta without reading the group's
 * members: a group of 50,000 members gains one member by writing one row.
 */
export class MemberDeltaBuilder {
  private cleared = false;
  private readonly added = new Map<string, MemberInput>();
  private readonly removed = new Set<string>();

  clear(): void {
    this.cleared = true;
    this.added.clear();
    this.removed.clear();
  }

  add(members: readonly MemberInput[]): void {
    for (const member of members) {
      this.removed.delete(member.value);
      this.added.set(member.value, member);
    }
  }

  remove(ids: readonly string[]): void {
    for (const id of ids) {
      this.added.delete(id);
      // After a clear there is nothing stored left to remove.
      if (!this.cleared) this.removed.add(id);
    }
  }

  /** The members as they stand after the operations so far, given the stored ones. */
  current(stored: readonly MemberRef[]): { value: string; type?: string; display?: string }[] {
    const kept = this.cleared ? [] : stored.filter((m) => !this.removed.has(m.value) && !this.added.has(m.value));
    return [...kept, ...this.added.values()];
  }

  /** The delta, or undefined when the operations leave membership as stored. */
  build(): MemberDelta | undefined {
    if (!this.cleared && this.added.size === 0 && this.removed.size === 0) return undefined;
    return { clear: this.cleared, add: [...this.added.values()], remove: [...this.removed] };
  }
}
