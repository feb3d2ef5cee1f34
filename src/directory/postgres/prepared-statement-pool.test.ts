import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StatementNames } from './prepared-statement-pool.ts';

describe('StatementNames', () => {
  it('names a text from its second use on, the same name every time', () => {
    const names = new StatementNames();
    assert.equal(names.nameOf('select 1'), undefined);
    const name = names.nameOf('select 1');
    assert.match(name ?? '', /^rc_[0-9a-f]{40}$/);
    assert.equal(names.nameOf('select 1'), name);
    assert.notEqual(names.nameOf('select 2') ?? names.nameOf('select 2'), name);
  });

  it('keeps at most 256 names: further texts stay unnamed, named ones keep their name', () => {
    const names = new StatementNames();
    const first = (names.nameOf('q0'), names.nameOf('q0'));
    for (let i = 1; i < 300; i++) {
      names.nameOf(`q${i}`);
      const named = names.nameOf(`q${i}`);
      if (i < 256) assert.ok(named, `q${i} is named`);
      else assert.equal(named, undefined, `q${i} stays unnamed`);
    }
    assert.equal(names.nameOf('q0'), first);
  });

  it('a refused text runs unnamed from then on', () => {
    const names = new StatementNames();
    names.nameOf('select * from t');
    assert.ok(names.nameOf('select * from t'));
    names.refuse('select * from t');
    assert.equal(names.nameOf('select * from t'), undefined);
    assert.equal(names.nameOf('select * from t'), undefined);
  });
});
