// Whether the CLI's output is coloured, decided once for every command: `--color always|never|auto`
// first, then NO_COLOR (https://no-color.org) and FORCE_COLOR, then whether the stream is a
// terminal. picocolors does the colouring; nothing else writes escape codes for colours.
import { createColors } from 'picocolors';

export const COLOR_MODES = ['auto', 'always', 'never'] as const;
export type ColorMode = (typeof COLOR_MODES)[number];

let mode: ColorMode = 'auto';

/** Set by the global --color option before any command runs. */
export function setColorMode(m: ColorMode): void {
  mode = m;
}

/** True when output to `stream` is to be coloured. */
export function useColor(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (mode !== 'auto') return mode === 'always';
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== '0') return true;
  return !!stream.isTTY && env.TERM !== 'dumb';
}

/** The colour functions for `stream`: plain text where it is not to be coloured. */
export const colorsFor = (stream: NodeJS.WriteStream = process.stdout) => createColors(useColor(stream));

/** A run's or task's status in its colour: green done, red failed, yellow waiting or cancelled. */
export function statusColor(status: string, stream: NodeJS.WriteStream = process.stdout): string {
  return paintStatus(status, status, useColor(stream));
}

/** `text` in the colour of `status`, or plain when `enabled` is false. */
export function paintStatus(status: string, text: string, enabled: boolean): string {
  const c = createColors(enabled);
  if (status === 'completed' || status === 'succeeded') return c.green(text);
  if (status === 'failed' || status === 'budget_exceeded' || status === 'terminated' || status === 'timed_out') return c.red(text);
  if (status === 'awaiting_approval' || status === 'cancelled') return c.yellow(text);
  if (status === 'running') return c.cyan(text);
  return c.dim(text);
}
