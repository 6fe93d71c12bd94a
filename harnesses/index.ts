import type { Harness } from './harness';
import { commandHarness } from './command';
import { claudeCodeHarness } from './claude-code';
import { codexHarness } from './codex';
import { geminiCliHarness } from './gemini-cli';
import { opencodeHarness } from './opencode';

/** The harnesses of the real agent CLIs; they reach their providers through the run's gateway. */
export const AGENT_CLI_HARNESSES: Record<string, Harness> = {
  [claudeCodeHarness.name]: claudeCodeHarness,
  [codexHarness.name]: codexHarness,
  [geminiCliHarness.name]: geminiCliHarness,
  [opencodeHarness.name]: opencodeHarness,
};

/** Harnesses this build can run; a graph naming another one is refused before the run starts. */
export const HARNESSES: Record<string, Harness> = {
  [commandHarness.name]: commandHarness,
  ...AGENT_CLI_HARNESSES,
};

export function harnessFor(name: string): Harness {
  const harness = HARNESSES[name];
  if (!harness) throw new Error(`harness "${name}" is not available (available: ${Object.keys(HARNESSES).join(', ')})`);
  return harness;
}

export { claudeCodeHarness, codexHarness, geminiCliHarness, opencodeHarness };
