import type { AttrPath } from './ast.ts';

/** RFC 7644 §3.4.2.2 ATTRNAME = ALPHA *(nameChar), plus the `$ref` sub-attribute of RFC 7643 §2.4. */
const ATTR_NAME = /^(?:\$ref|[A-Za-z][A-Za-z0-9_-]*)$/;
/** A schema URN (RFC 7643 §3 "urn:ietf:params:scim:schemas:..." or any other `urn:` name). */
const URN = /^urn:[^\s:]+(?::[^\s:]+)+$/i;

/**
 * Parses `attr`, `attr.sub`, `urn:...:attr` and `urn:...:attr.sub` (RFC 7644 §3.10). The URN is
 * everything before the last ':'; URNs themselves contain dots ("2.0"), so the sub-attribute is
 * looked for only after that colon. Returns undefined when the text is no attribute path, so each
 * caller can raise its own scimType (invalidFilter, invalidPath...).
 */
export function parseAttrPath(text: string): AttrPath | undefined {
  const colon = text.lastIndexOf(':');
  const uri = colon >= 0 ? text.slice(0, colon) : undefined;
  if (uri !== undefined && !URN.test(uri)) return undefined;
  const [attr, sub, ...rest] = text.slice(colon + 1).split('.');
  if (attr === undefined || !ATTR_NAME.test(attr) || rest.length > 0) return undefined;
  if (sub !== undefined && !ATTR_NAME.test(sub)) return undefined;
  return { ...(uri !== undefined && { uri }), attr, ...(sub !== undefined && { sub }) };
}

/** True when `name` is a valid RFC 7644 ATTRNAME (used for `.subAttr` after a value filter). */
export function isAttrName(name: string): boolean {
  return ATTR_NAME.test(name);
}
