// A prompt of 1 MB reaches the agent whole, through its prompt file (not argv, not the environment),
// on the real server, Docker engine and git; one too large for Temporal is refused by validate and
// run with the limit, and nothing is made.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { runArtifactsDir } from '../../paths/data-folder';
import { cli } from '../support/cli';
import { makeRepo, repoState, writeGraph } from '../support/repo';

const ID = `${process.pid}`;
const git = (repo: string, ...args: string[]) => execFileSync('git', ['-C', repo, '-c', 'safe.directory=*', ...args], { encoding: 'utf8' });

describe('prompts', () => {
  test('a 1 MB prompt reaches the agent whole, through its prompt file', async () => {
    const repo = makeRepo();
    const prompt = `${'lorem ipsum '.repeat(83_333)}THE END`; // 1,000,003 bytes
    const file = writeGraph(`
name: big-prompt
repo: ${repo}
agents:
  reader:
    harness: command
    command: |
      wc -c < "$AGENTVISOR_PROMPT_FILE" | tr -d ' ' > size.txt
      tail -c 7 "$AGENTVISOR_PROMPT_FILE" > end.txt
      echo "\${AGENTVISOR_PROMPT:-unset}" > env.txt
tasks:
  - id: read
    agent: reader
    prompt: "${prompt}"
`);
    expect((await cli('validate', file)).code).toBe(0);
    const runId = `prompt-1mb-${ID}`;
    const run = await cli('run', file, '--id', runId, '--json');
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.code).toBe(0);
    const branch = `agentvisor-tasks/${runId}/read`;
    expect(git(repo, 'show', `${branch}:size.txt`).trim()).toBe(String(Buffer.byteLength(prompt)));
    expect(git(repo, 'show', `${branch}:end.txt`)).toBe('THE END');
    // too large for a variable: only the file has it
    expect(git(repo, 'show', `${branch}:env.txt`).trim()).toBe('unset');
  });

  test('a prompt too large for Temporal is refused by validate and run, with the limit; nothing is made', async () => {
    const repo = makeRepo();
    const before = repoState(repo);
    const file = writeGraph(`
name: too-big
repo: ${repo}
agents:
  a: { harness: command, command: "true" }
tasks:
  - { id: huge, agent: a, prompt: "${'x'.repeat(2 * 1024 * 1024)}" }
`);
    const validate = await cli('validate', file);
    expect(validate.code).toBe(2);
    expect(validate.stderr).toContain(`${file}:7:35: tasks.0.prompt:`);
    expect(validate.stderr).toContain('the prompt of task "huge" is 2048 KiB; at most 1024 KiB');
    const runId = `prompt-huge-${ID}`;
    const run = await cli('run', file, '--id', runId);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('at most 1024 KiB');
    expect(repoState(repo)).toEqual(before);
    expect(existsSync(runArtifactsDir(process.env.AGENTVISOR_HOME!, runId))).toBe(false);
  });
});
