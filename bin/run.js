#!/usr/bin/env node
// The `pheromones` CLI: oclif finds the commands in dist/cli/commands (package.json "oclif").
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url });
