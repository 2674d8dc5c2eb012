import { describe, expect, it } from 'vitest';
import { MAX_USER_ID_LENGTH, checkUserId } from './user-id.js';

describe('checkUserId', () => {
  it.each([
    ['a plain id', 'alice'],
    ['an identity-provider subject', 'auth0|5f7c8ec7c33c6c004bbafe82'],
    ['a UUID', '0f8fad5b-d9cb-469f-a165-70867728950e'],
    ['non-ASCII letters', 'Zoë Ångström 山田'],
    ['characters outside the BMP (surrogate pairs)', '\u{1F680}'.repeat(MAX_USER_ID_LENGTH)],
    ['the replacement character itself', '\ufffd'],
    ['spaces', ' a b '],
    [`${MAX_USER_ID_LENGTH} characters`, 'u'.repeat(MAX_USER_ID_LENGTH)],
  ])('accepts %s', (_name, value) => {
    expect(checkUserId(value)).toEqual({ ok: true });
  });

  it.each([
    ['an empty string', ''],
    ['a number', 42],
    ['null', null],
    ['an unpaired high surrogate', '\ud800'],
    ['an unpaired high surrogate before a letter', '\ud800a'],
    ['an unpaired low surrogate', 'a\udc00'],
    ['a reversed pair', '\udc00\ud800'],
    ['NUL', 'a\u0000b'],
    ['a tab', 'a\tb'],
    ['a newline', 'alice\n'],
    ['DEL', 'x\u007f'],
    ['a C1 control', 'x\u0085'],
    [`${MAX_USER_ID_LENGTH + 1} characters`, 'u'.repeat(MAX_USER_ID_LENGTH + 1)],
    [
      `${MAX_USER_ID_LENGTH + 1} characters outside the BMP`,
      '\u{1F680}'.repeat(MAX_USER_ID_LENGTH + 1),
    ],
  ])('refuses %s, saying why', (_name, value) => {
    const check = checkUserId(value);
    expect(check.ok).toBe(false);
    expect(check.ok ? '' : check.reason).toMatch(/user id/);
  });
});
