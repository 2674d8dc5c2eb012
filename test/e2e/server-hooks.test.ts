/**
 * The server's hooks (validate, authorize, beforeCommit) end to end on the embedded SQLite store.
 */
import { describeServerHooks } from '../support/server-hooks-suite.js';

describeServerHooks('server hooks on the SQLite store', {
  fresh: () => ({ store: undefined, cleanup: async () => undefined }),
});
