// Which workspaces a worker makes (activities/workspace-overlay.ts): AGENTVISOR_WORKSPACE, and where
// `auto` chooses the overlay; a bad value is bad input (the CLI exits 2).
import { workspaceMode } from '../../activities/workspace-overlay';
import { BadInputError } from '../../graph/problems';

const withEnv = (value: string | undefined, fn: () => void) => {
  const before = process.env.AGENTVISOR_WORKSPACE;
  if (value === undefined) delete process.env.AGENTVISOR_WORKSPACE;
  else process.env.AGENTVISOR_WORKSPACE = value;
  try {
    fn();
  } finally {
    if (before === undefined) delete process.env.AGENTVISOR_WORKSPACE;
    else process.env.AGENTVISOR_WORKSPACE = before;
  }
};

test('overlay and copy are taken as they are, whatever the runtime', () => {
  withEnv('copy', () => expect(workspaceMode('docker')).toBe('copy'));
  withEnv('overlay', () => expect(workspaceMode('kubernetes')).toBe('overlay'));
});

test('auto: an overlay for a root worker on Linux with Docker; Kubernetes keeps the copy', () => {
  const root = process.platform === 'linux' && process.getuid?.() === 0;
  for (const value of [undefined, 'auto']) {
    withEnv(value, () => {
      expect(workspaceMode('docker')).toBe(root ? 'overlay' : 'copy');
      expect(workspaceMode('kubernetes')).toBe('copy');
    });
  }
});

test('anything else is refused, naming the variable and the value', () => {
  withEnv('cow', () => {
    expect(() => workspaceMode('docker')).toThrow(BadInputError);
    expect(() => workspaceMode('docker')).toThrow('AGENTVISOR_WORKSPACE must be overlay, copy or auto, not "cow"');
  });
});
