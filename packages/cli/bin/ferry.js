#!/usr/bin/env node
// The `ferry` command. Runs the built CLI (npm run build makes packages/cli/dist).
import '../dist/cli.js';
