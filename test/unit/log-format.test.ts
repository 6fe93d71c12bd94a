// Log lines for people: one line per record with what it is about, an error's message without its
// stack (DEBUG keeps it), no SDK bookkeeping, and nothing a terminal would take as a command.
import { humanLine } from '../../telemetry/log-format';

const failed = JSON.stringify({
  level: 40,
  time: Date.UTC(2026, 0, 1, 12, 0, 0),
  component: 'worker',
  pid: 42,
  sdkComponent: 'worker',
  taskQueue: 'agentvisor',
  namespace: 'default',
  workflowId: 'run-1/parse',
  runId: '01a2',
  workflowType: 'runTask',
  error: {
    type: 'Error',
    message: 'agent exited with code 3',
    stack: 'ApplicationFailure: agent exited with code 3\n    at taskSteps (run-task.ts:60:31)',
  },
  msg: 'Workflow failed',
});

test('a failed workflow is one line: level, message, the error, and which workflow', () => {
  const line = humanLine(failed);
  expect(line).toMatch(
    /^\d\d:\d\d:\d\d WARN {2}Workflow failed: agent exited with code 3 {2}\(workflowType=runTask workflowId=run-1\/parse runId=01a2\)$/,
  );
  expect(line).not.toContain('\n');
  expect(line).not.toContain('taskQueue');
});

test('with stacks (DEBUG), the stack follows, indented', () => {
  expect(humanLine(failed, { stacks: true }).split('\n')).toEqual([
    expect.stringContaining('Workflow failed'),
    '    ApplicationFailure: agent exited with code 3',
    '        at taskSteps (run-task.ts:60:31)',
  ]);
});

test('simple fields are shown as key=value; escape sequences in a message are removed', () => {
  const line = humanLine(
    JSON.stringify({ level: 30, time: 0, msg: 'Worker state changed \x1b[2J\x1b]0;title\x07', state: 'RUNNING', nested: { a: 1 } }),
  );
  expect(line).toMatch(/INFO {2}Worker state changed +\(state=RUNNING\)$/);
  expect(line).not.toContain('\x1b');
});

test('a line that is not JSON is shown as it is, made safe', () => {
  expect(humanLine('plain \x1b[31mred\x1b[0m text')).toBe('plain red text');
});
