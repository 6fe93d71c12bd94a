import type { Harness } from './harness';
import { commandHarness } from './command';

/** Harnesses this build can run; a graph naming another one is refused before the run starts. */
export const HARNESSES: Record<string, Harness> = {
  [commandHarness.name]: commandHarness,
};

export function harnessFor(name: string): Harness {
  const harness = HARNESSES[name];
  if (!harness) throw new Error(`harness "${name}" is not available (available: ${Object.keys(HARNESSES).join(', ')})`);
  return harness;
}
