#!/usr/bin/env node
// The `ferry` command. Runs the built and bundled CLI (npm run build makes packages/cli/dist).
import '../dist/bundle/cli.js';
