import { rmSync } from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const pid = Number(process.env.AGENTVISOR_TEST_SERVER_PID);
  if (pid) {
    try {
      process.kill(-pid, 'SIGTERM'); // the server's process group
    } catch {
      // already gone
    }
  }
  if (process.env.AGENTVISOR_HOME?.includes('agentvisor-test-')) {
    rmSync(process.env.AGENTVISOR_HOME, { recursive: true, force: true });
  }
}
