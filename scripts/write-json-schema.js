#!/usr/bin/env node
// Writes graph/graph.schema.json from the zod schema, for editors (yaml-language-server).
const fs = require('node:fs');
const path = require('node:path');
const { z } = require('zod');
const { graphSchema } = require('../dist/graph/schema');

const schema = z.toJSONSchema(graphSchema, { io: 'input', unrepresentable: 'any' });
schema.title = 'agentvisor task graph';
const out = path.join(__dirname, '..', 'graph', 'graph.schema.json');
fs.writeFileSync(out, JSON.stringify(schema, null, 2) + '\n');
