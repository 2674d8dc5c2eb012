/**
 * A jsdom document in Node's own realm, for Testing Library: `window`, `document`, `navigator`
 * and the DOM classes React reaches for become globals, while every JavaScript builtin stays
 * Node's (a server and its JWT code run in the same process).
 */
import { JSDOM } from 'jsdom';

let installed = false;

export function installDom(): void {
  if (installed) return;
  installed = true;
  const dom = new JSDOM('<!doctype html><html><body></body></html>', {
    url: 'http://127.0.0.1/',
    pretendToBeVisual: true,
  });
  const window = dom.window as unknown as Record<string, unknown>;
  const globals = globalThis as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(window)) {
    if (name in globals) continue;
    if (
      !/^[A-Z]/.test(name) &&
      !['document', 'getComputedStyle', 'requestAnimationFrame', 'cancelAnimationFrame'].includes(
        name,
      )
    )
      continue;
    globals[name] = window[name];
  }
  globals['window'] = window;
  globals['document'] = window['document'];
  Object.defineProperty(globalThis, 'navigator', {
    value: window['navigator'],
    configurable: true,
  });
  globals['IS_REACT_ACT_ENVIRONMENT'] = true;
}
