import { ScimError } from '../domain/errors.ts';

/** RFC 7644 §3.14: versions are served as weak entity tags. */
export const etagOf = (version: number): string => `W/"${version}"`;

/** Matches an If-Match / If-None-Match header value (a list, `*`, weak or strong) against a version. */
export function etagMatches(header: string, version: number): boolean {
  const wanted = String(version);
  return header.split(',').some((raw) => {
    const tag = raw.trim();
    if (tag === '*') return true;
    const opaque = tag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
    return opaque === wanted;
  });
}

/** If-Match on a write: a mismatch is 412 Precondition Failed, nothing is changed. */
export function checkIfMatch(ifMatch: string | undefined, version: number): void {
  if (ifMatch !== undefined && !etagMatches(ifMatch, version)) {
    throw new ScimError(412, `If-Match ${ifMatch} does not match the current version ${etagOf(version)}`);
  }
}
