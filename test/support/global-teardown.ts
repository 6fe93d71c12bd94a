import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';

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
    // folders with a disk limit that runs keep (a completed run's /shared, --keep-on-failure
    // worktrees) are mounted filesystems: unmounted first, deepest first
    const home = process.env.AGENTVISOR_HOME + '/';
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((p) => p?.startsWith(home))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) execFileSync('umount', ['--lazy', m]);
    rmSync(process.env.AGENTVISOR_HOME, { recursive: true, force: true });
  }
}
