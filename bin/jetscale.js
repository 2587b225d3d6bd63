#!/usr/bin/env node
// The `jetscale` command: runs the bundled CLI (built by `npm run build`).
import "../dist/cli.js"
