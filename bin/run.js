#!/usr/bin/env node
// The `pheromones` CLI: oclif finds the commands in dist/cli/commands (package.json "oclif").
import { execute } from '@oclif/core';

// grpc-js passes an IP target as the TLS server name (DEP0123); a CLI user can do nothing about it.
process.noDeprecation = true;

await execute({ dir: import.meta.url });
