#!/usr/bin/env node
// The compiled daemon lives under dist/ (`npm run build`).
import { main } from '../dist/src/daemon/main.js';

await main();
