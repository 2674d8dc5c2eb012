/**
 * `@ferry/example-todo`: the demo's schema (lists and todos), the one `ferry serve` loads by
 * default.
 *
 * @module
 */
import { todoSchema } from './schema.js';

export { todoSchema } from './schema.js';
export type { TodoSchema } from './schema.js';
export { todoHistory, todoV2, todoV3, todoV4, todoV5 } from './versions.js';
export default todoSchema;
