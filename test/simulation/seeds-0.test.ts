/**
 * The CI seed budget, shard 0 of 2 (the other shard runs in parallel on the second core).
 * Budgets: FERRY_SIM_SEEDS, FERRY_SIM_OPS, FERRY_SIM_START; replay one seed with SEED=….
 */
import { describeShard } from './seed-budget.js';

describeShard(0, 2);
