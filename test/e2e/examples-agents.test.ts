// The examples in examples/agents, one graph per agent CLI, run as the README says: through the
// CLI, on a sample repository, the model traffic replayed from the cassettes they name.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import { ensureAgentsImage } from '../../images/build';
import { cli } from '../support/cli';
import { sh } from '../support/repo';

const ROOT = path.join(__dirname, '..', '..');
const EXAMPLES = path.join(ROOT, 'examples', 'agents');

jest.setTimeout(600_000);

beforeAll(async () => {
  await ensureAgentsImage(new Docker());
});

test.each([
  ['claude-code', 'claude', 'ANTHROPIC_API_KEY'],
  ['codex', 'codex', 'OPENAI_API_KEY'],
  ['gemini-cli', 'gemini', 'GEMINI_API_KEY'],
  ['opencode', 'opencode', 'OPENAI_API_KEY'],
])('examples/agents/%s.yaml: the real CLI writes its file, replayed, merged and evaluated', async (example, task, key) => {
  // the example as a user has it, beside its sample repository (here in a folder of the test's own)
  const dir = mkdtempSync(path.join(os.tmpdir(), `agentvisor-example-${example}-`));
  const graph = readFileSync(path.join(EXAMPLES, `${example}.yaml`), 'utf8').replace(
    '../../test/fixtures/cassettes/agents',
    path.join(ROOT, 'test', 'fixtures', 'cassettes', 'agents'),
  );
  writeFileSync(path.join(dir, `${example}.yaml`), graph);
  execFileSync(path.join(ROOT, 'scripts', 'make-sample-repo.sh'), [path.join(dir, 'sample-repo')]);
  // replay never sends a key, but the graph names one per provider
  process.env[key] = 'unused';
  try {
    const r = await cli('run', path.join(dir, `${example}.yaml`), '--json');
    const report = JSON.parse(r.stdout) as { status: string; integrationBranch: string; evaluation: { passed: boolean } };
    expect({ code: r.code, status: report.status, evaluation: report.evaluation?.passed }).toEqual({
      code: 0,
      status: 'completed',
      evaluation: true,
    });
    expect(sh(path.join(dir, 'sample-repo'), 'show', `${report.integrationBranch}:${task}.txt`)).toBe(`hello from ${task}\n`);
  } finally {
    delete process.env[key];
  }
});
