#!/usr/bin/env node
// Writes spec/graph.schema.json from the zod schema, for editors (yaml-language-server).
const fs = require('node:fs');
const path = require('node:path');
const { z } = require('zod');
const { graphSchema } = require('../dist/spec/schema');

const schema = z.toJSONSchema(graphSchema, { io: 'input', unrepresentable: 'any' });
schema.title = 'agentvisor task graph';
const out = path.join(__dirname, '..', 'spec', 'graph.schema.json');
fs.writeFileSync(out, JSON.stringify(schema, null, 2) + '\n');
