/**
 * Remembers `compute`'s result per string key, up to `limit` keys (past that, new keys are
 * computed every time): audit payloads reuse a few dozen member names millions of times.
 */
export function boundedMemo<T>(compute: (key: string) => T, limit = 4096): (key: string) => T {
  const known = new Map<string, T>();
  return (key) => {
    let value = known.get(key);
    if (value === undefined && !known.has(key)) {
      value = compute(key);
      if (known.size < limit) known.set(key, value);
    }
    return value as T;
  };
}
