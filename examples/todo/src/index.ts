/**
 * `@ferry/example-todo`: the demo's schema (lists and todos), the one `ferry serve` loads by
 * default.
 *
 * @module
 */
import { todoSchema } from './schema.js';

export { todoSchema } from './schema.js';
export type { TodoSchema } from './schema.js';
export default todoSchema;
