/**
 * Runs Okta's own SCIM 2.0 spec test (a Runscope export, ../shared/conformance/
 * okta-scim20-spec-test.json) against a real server. This is an interpreter for the export, not a
 * translation of it: every request step is executed as written (method, headers, body, URL with
 * {{variables}}), every assertion is evaluated with Runscope's comparison semantics, and
 * variables are extracted from responses for later steps. A comparison, source or step type this
 * runner does not know FAILS the step, so a newer export can never pass by being misunderstood.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { needPostgres, scratchPostgresDatabase } from '../support/services.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { create, USER } from './scim-assertions.ts';

const SPEC_URL = new URL('../../../shared/conformance/okta-scim20-spec-test.json', import.meta.url);

interface Assertion {
  comparison: string;
  source: string;
  value: string | null;
  property?: string;
}
interface Extraction {
  source: string;
  name: string;
  property?: string;
}
interface Step {
  step_type: string;
  skipped?: boolean;
  note?: string;
  method?: string;
  url?: string;
  headers?: Record<string, string[]>;
  body?: string;
  auth?: Record<string, unknown>;
  form?: Record<string, unknown>;
  multipart_form?: unknown[];
  binary_body?: unknown;
  assertions?: Assertion[];
  variables?: Extraction[];
  scripts?: string[];
  before_scripts?: string[];
  duration?: number;
}
interface Export {
  name: string;
  steps: Step[];
}

interface Response {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
  ms: number;
}

const spec = JSON.parse(readFileSync(SPEC_URL, 'utf8')) as Export;

/**
 * Pause steps exist so that eventually consistent services catch up between requests. Rolecall
 * acknowledges a write only after it committed, so the runner honours each pause scaled down
 * (ROLECALL_OKTA_PAUSE_SCALE=1 to wait the full seconds).
 */
const PAUSE_SCALE = Number(process.env.ROLECALL_OKTA_PAUSE_SCALE ?? '0.01');

/** Runscope `{{name}}` templates; an undefined variable is an error, not an empty string. */
export function fillTemplate(text: string, vars: Map<string, string>): string {
  return text.replace(/\{\{\s*([^{}]+?)\s*\}\}/g, (_, name: string) => {
    const value = vars.get(name);
    if (value === undefined) throw new Error(`Runscope variable {{${name}}} is not defined`);
    return value;
  });
}

/**
 * A Runscope JSON property: JavaScript notation, `a.b[0].c` (also `["key"]`). Returns undefined
 * when any step is missing.
 */
export function jsonProperty(document: unknown, property: string): unknown {
  const part = String.raw`(?:[^.[\]"']+|\[\d+\]|\["[^"]*"\]|\['[^']*'\])`;
  if (!new RegExp(`^${part}(?:\\.?${part})*$`).test(property)) throw new Error(`Cannot parse JSON property "${property}"`);
  const tokens: (string | number)[] = [];
  for (const m of property.matchAll(/([^.[\]"']+)|\[(\d+)\]|\["([^"]*)"\]|\['([^']*)'\]/g)) {
    if (m[1] !== undefined) tokens.push(m[1]);
    else if (m[2] !== undefined) tokens.push(Number(m[2]));
    else tokens.push((m[3] ?? m[4])!);
  }
  let node: unknown = document;
  for (const token of tokens) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[token];
  }
  return node;
}

/** How Runscope shows a JSON value as text: strings as is, the rest as JSON (true, 0, [..]). */
function asText(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

/** Runscope "empty": missing, null, "", [] or {}. A boolean or a number is a value, so never empty. */
function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (typeof value === 'string') return value.length === 0;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

/**
 * Evaluates one comparison as Runscope defines it (API Monitoring & Testing: Assertions):
 * equal / not_equal compare as case-sensitive text, *_number and the ordering comparisons as
 * numbers, contains / does_not_contain search the text, has_key / has_value look into an
 * object / array, empty / not_empty / null / is_a_number test the value itself. Returns an error
 * message, or undefined when the assertion holds.
 */
export function compare(comparison: string, actual: unknown, target: string | null): string | undefined {
  const show = () => `actual ${actual === undefined ? '(missing)' : JSON.stringify(actual)}, target ${JSON.stringify(target)}`;
  const numeric = (test: (a: number, b: number) => boolean): string | undefined => {
    const a = asNumber(actual);
    const b = asNumber(target);
    if (a === undefined || b === undefined) return `${comparison}: not numbers (${show()})`;
    return test(a, b) ? undefined : `${comparison} failed: ${show()}`;
  };
  const check = (ok: boolean) => (ok ? undefined : `${comparison} failed: ${show()}`);
  switch (comparison) {
    case 'equal':
      return check(actual !== undefined && asText(actual) === (target ?? ''));
    case 'not_equal':
      return check(asText(actual) !== (target ?? ''));
    case 'equal_number':
      return numeric((a, b) => a === b);
    case 'not_equal_number':
      return numeric((a, b) => a !== b);
    case 'is_less_than':
      return numeric((a, b) => a < b);
    case 'is_less_than_or_equal':
      return numeric((a, b) => a <= b);
    case 'is_greater_than':
      return numeric((a, b) => a > b);
    case 'is_greater_than_or_equal':
      return numeric((a, b) => a >= b);
    case 'contains':
      return check(actual !== undefined && asText(actual)!.includes(target ?? ''));
    case 'does_not_contain':
      return check(actual === undefined || !asText(actual)!.includes(target ?? ''));
    case 'empty':
      return check(isEmpty(actual));
    case 'not_empty':
      return check(!isEmpty(actual));
    case 'is_null':
      return check(actual === null);
    case 'is_not_null':
      return check(actual !== null && actual !== undefined);
    case 'has_key':
      return check(actual !== null && typeof actual === 'object' && !Array.isArray(actual) && Object.hasOwn(actual, target ?? ''));
    case 'has_value':
      // A list that holds the target value (compared as text, like `equal`).
      return check(Array.isArray(actual) && actual.some((v) => asText(v) === target));
    case 'is_a_number':
      // A JSON number. Okta reads these integers as numbers (interop Okta item 3), so a numeric
      // string does not count.
      return check(typeof actual === 'number' && Number.isFinite(actual));
    default:
      return `unknown Runscope comparison "${comparison}": this runner cannot evaluate it`;
  }
}

/** The value an assertion or variable reads from a response. */
function sourceValue(source: string, property: string | undefined, res: Response): { value?: unknown; error?: string } {
  switch (source) {
    case 'response_status':
      return { value: res.status };
    case 'response_json':
      if (res.json === undefined) return { error: `response is not JSON: ${res.text.slice(0, 200)}` };
      if (!property) return { value: res.json };
      return { value: jsonProperty(res.json, property) };
    case 'response_headers': {
      if (!property) return { error: 'response_headers needs a property (the header name)' };
      const header = res.headers.get(property);
      return { value: header === null ? undefined : header };
    }
    case 'response_text':
      return { value: res.text };
    case 'response_time':
      return { value: res.ms };
    case 'response_size':
      return { value: Buffer.byteLength(res.text) };
    default:
      return { error: `unknown Runscope source "${source}"` };
  }
}

async function execute(step: Step, vars: Map<string, string>): Promise<Response> {
  if (!step.method || !step.url) throw new Error('request step without method or url');
  for (const unsupported of ['form', 'multipart_form'] as const) {
    const v = step[unsupported];
    if (v && (Array.isArray(v) ? v.length > 0 : Object.keys(v).length > 0)) throw new Error(`request step uses ${unsupported}, which this runner does not implement`);
  }
  if (step.binary_body !== undefined && step.binary_body !== null) throw new Error('request step uses binary_body, which this runner does not implement');
  if (step.auth && Object.keys(step.auth).length > 0) throw new Error('request step uses Runscope auth, which this runner does not implement');
  if ((step.scripts ?? []).some((x) => x.trim() !== '') || (step.before_scripts ?? []).some((x) => x.trim() !== '')) {
    throw new Error('request step has scripts, which this runner does not implement');
  }
  // Runscope sends the URL percent-encoded; WHATWG URL encodes the spaces and quotes of a filter.
  const url = new URL(fillTemplate(step.url, vars));
  const headers = new Headers();
  for (const [name, values] of Object.entries(step.headers ?? {})) {
    for (const value of values) headers.append(name, fillTemplate(value, vars));
  }
  const body = step.body === undefined || step.body === '' ? undefined : fillTemplate(step.body, vars);
  const started = performance.now();
  const res = await fetch(url, { method: step.method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json, ms: performance.now() - started };
}

/**
 * Registers the whole export as one suite against a fresh server. `store` is the server's store
 * URL (undefined: embedded); on PostgreSQL, needPostgres decides in the first subtest.
 */
function conformanceSuite(label: string, usePostgres: boolean): void {
  describe(`Okta conformance (${label}): ${spec.name}`, () => {
    let s: TestServer | undefined;
    let dropDatabase: (() => Promise<void>) | undefined;
    let unavailable = false;
    const vars = new Map<string, string>();

    after(async () => {
      await s?.stop();
      await dropDatabase?.();
    });

    it('starts a server with a seeded user and fills the Runscope variables', async (t) => {
      if (usePostgres) {
        if (!(await needPostgres(t))) {
          unavailable = true;
          return;
        }
        const db = await scratchPostgresDatabase('rolecall_http_okta_spec');
        dropDatabase = db.drop;
        s = await startTestServer({ store: db.url });
      } else {
        s = await startTestServer();
      }
      // The first step reads Resources[0] with count=1 and expects a complete user to exist.
      await create(s, '/Users', {
        schemas: [USER],
        userName: 'existing.user@example.com',
        name: { givenName: 'Existing', familyName: 'User' },
        emails: [{ primary: true, type: 'work', value: 'existing.user@example.com' }],
        displayName: 'Existing User',
        active: true,
      });
      const random = randomUUID().replace(/-/g, '').slice(0, 10);
      const given = `Given${random}`;
      const family = `Family${random}`;
      const username = `${given.toLowerCase()}.${family.toLowerCase()}@example.com`;
      vars.set('SCIMBaseURL', s.scimUrl);
      vars.set('auth', `Bearer ${s.token}`);
      vars.set('InvalidUserEmail', `invalid-${random}@example.com`);
      vars.set('UserIdThatDoesNotExist', `010101${random}`);
      vars.set('randomEmail', username);
      vars.set('randomUsername', username);
      vars.set('randomGivenName', given);
      vars.set('randomFamilyName', family);
      // Okta's "Username Case Sensitivity Check" looks the same user up in upper case.
      vars.set('randomUsernameCaps', username.toUpperCase());
    });

    spec.steps.forEach((step, index) => {
      const name = `${index + 1}. ${step.step_type === 'request' ? (step.note ?? `${step.method} ${step.url}`).trim() : `${step.step_type}${step.duration ? ` ${step.duration}s` : ''}`}`;
      it(name, async (t) => {
        if (unavailable) {
          // PostgreSQL is unreachable outside CI; needPostgres said so loudly above.
          t.skip('PostgreSQL is not reachable');
          return;
        }
        assert.ok(s, 'the server started (see the first subtest)');
        if (step.skipped) {
          // A step the export itself disables is not run by Runscope either.
          t.skip('marked skipped in the Runscope export');
          return;
        }
        if (step.step_type === 'pause') {
          assert.equal(typeof step.duration, 'number', 'a pause has a duration');
          await sleep(step.duration! * 1000 * PAUSE_SCALE);
          return;
        }
        assert.equal(step.step_type, 'request', `unknown Runscope step type "${step.step_type}"`);
        const res = await execute(step, vars);
        const failures: string[] = [];
        for (const a of step.assertions ?? []) {
          const { value, error } = sourceValue(a.source, a.property, res);
          const target = a.value === null ? null : fillTemplate(a.value, vars);
          const problem = error ?? compare(a.comparison, value, target);
          if (problem) failures.push(`${a.source}${a.property ? ` ${a.property}` : ''}: ${problem}`);
        }
        for (const v of step.variables ?? []) {
          const { value, error } = sourceValue(v.source, v.property, res);
          if (error) failures.push(`variable ${v.name}: ${error}`);
          else if (value === undefined) failures.push(`variable ${v.name}: ${v.property} is missing from the response`);
          else vars.set(v.name, asText(value)!);
        }
        assert.deepEqual(failures, [], `${step.method} ${step.url} -> ${res.status}: ${res.text.slice(0, 1500)}`);
      });
    });
  });
}

it('the export has request steps, each with assertions', () => {
  const requests = spec.steps.filter((x) => x.step_type === 'request');
  assert.ok(requests.length >= 10, `${requests.length} request steps`);
  assert.ok(requests.every((x) => (x.assertions ?? []).length > 0));
});

conformanceSuite('embedded store', false);
conformanceSuite('PostgreSQL', true);

describe('Runscope comparison semantics (the runner itself)', () => {
  it('implements each comparison and fails unknown ones', () => {
    assert.equal(compare('equal_number', 200, '200'), undefined);
    assert.ok(compare('equal_number', 201, '200'));
    assert.ok(compare('equal_number', 'abc', '200'));
    assert.equal(compare('equal', true, 'true'), undefined);
    assert.equal(compare('equal', 0, '0'), undefined);
    assert.ok(compare('equal', 'True', 'true'), 'case-sensitive');
    assert.ok(compare('equal', undefined, ''), 'a missing value equals nothing');
    assert.equal(compare('not_empty', false, null), undefined, 'false is a value');
    assert.ok(compare('not_empty', '', null));
    assert.ok(compare('not_empty', [], null));
    assert.ok(compare('not_empty', undefined, null));
    assert.ok(compare('not_empty', null, null));
    assert.equal(compare('has_value', ['a', 'b'], 'b'), undefined);
    assert.ok(compare('has_value', ['ab'], 'b'), 'has_value is membership, not substring');
    assert.ok(compare('has_value', 'b', 'b'), 'has_value needs a list');
    assert.equal(compare('contains', ['urn:x:User'], 'urn:x:User'), undefined);
    assert.equal(compare('contains', 'abc', 'b'), undefined);
    assert.ok(compare('contains', 'abc', 'd'));
    assert.equal(compare('is_a_number', 3, null), undefined);
    assert.ok(compare('is_a_number', '3', null), 'a numeric string is not a JSON number');
    assert.ok(compare('is_a_number', undefined, null));
    assert.ok(compare('matches_regex', 'x', 'x'), 'unknown comparisons fail');
    assert.equal(jsonProperty({ Resources: [{ name: { familyName: 'F' } }] }, 'Resources[0].name.familyName'), 'F');
    assert.equal(jsonProperty({ a: [] }, 'a[0].b'), undefined);
    assert.throws(() => fillTemplate('{{nope}}', new Map()), /not defined/);
  });
});
