// docker-compose.yml (the team's Temporal cluster) is valid and wires the services together.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { parse } from 'yaml';

test('docker-compose config accepts the team cluster file', () => {
  const file = path.join(__dirname, '..', '..', 'docker-compose.yml');
  const config = parse(execFileSync('docker-compose', ['-f', file, 'config'], { encoding: 'utf8' }));
  expect(Object.keys(config.services).sort()).toEqual(['postgresql', 'temporal', 'temporal-ui']);
  expect(config.services.temporal.environment.POSTGRES_SEEDS).toBe('postgresql');
  expect(config.services['temporal-ui'].environment.TEMPORAL_ADDRESS).toBe('temporal:7233');
  expect(JSON.stringify(config.services.temporal.ports)).toContain('7233');
});
