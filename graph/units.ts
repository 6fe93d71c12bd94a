// Human-friendly units in the graph file ("10m", "512m") and their machine values.

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "90s", "10m", "1.5h" or a bare number of seconds → milliseconds; undefined when malformed. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return value >= 0 ? value * 1000 : undefined;
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * DURATION_MS[match[2] ?? 's']);
}

const SIZE = /^(\d+(?:\.\d+)?)\s*([kmg])?b?$/i;
const SIZE_BYTES: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** "512m", "2g" or a bare number of bytes → bytes; undefined when malformed. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === 'number') return value > 0 ? value : undefined;
  const match = SIZE.exec(value.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * (match[2] ? SIZE_BYTES[match[2].toLowerCase()] : 1));
}
