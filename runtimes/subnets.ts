// The subnets of agents' networks: small IPv4 blocks from a range agentvisor owns, chosen by the
// worker, so that agent networks do not draw on the engine's default address pools (a /16 or /20
// each, about 30 networks on a whole engine). Pure functions; runtimes/docker.ts does the asking.

/** The worker's range when neither --network-range nor AGENTVISOR_NETWORK_RANGE says otherwise. */
export const DEFAULT_NETWORK_RANGE = '10.213.0.0/16';
export const NETWORK_RANGE_ENV = 'AGENTVISOR_NETWORK_RANGE';

/**
 * The prefix length of an agent's network. Docker reserves, even with `inhibit_ipv4` (no address on
 * the bridge), the subnet's first host address as the bridge's gateway address, besides the network
 * and broadcast addresses (measured on Docker 20.10: a /30 takes one container, a /29 five). An
 * agent's network holds two: the agent and the gateway; a /29 leaves three to spare.
 */
export const AGENT_SUBNET_PREFIX = 29;

/** An IPv4 block: its first address as an unsigned 32-bit number, and its prefix length. */
export interface Cidr {
  base: number;
  prefix: number;
}

const size = (prefix: number) => 2 ** (32 - prefix);
const last = (c: Cidr) => c.base + size(c.prefix) - 1;

function parseAddress(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

/** `a.b.c.d/n`, IPv4 only; undefined for anything else (IPv6 subnets among the engine's, typos). */
export function parseCidr(text: string): Cidr | undefined {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(text.trim());
  if (!m) return undefined;
  const base = parseAddress(m[1]);
  const prefix = Number(m[2]);
  if (base === undefined || prefix > 32) return undefined;
  return { base: base - (base % size(prefix)), prefix }; // host bits dropped, as Docker does
}

export function formatCidr(c: Cidr): string {
  const b = c.base;
  return `${Math.floor(b / 2 ** 24)}.${Math.floor(b / 2 ** 16) % 256}.${Math.floor(b / 2 ** 8) % 256}.${b % 256}/${c.prefix}`;
}

export const overlaps = (a: Cidr, b: Cidr) => a.base <= last(b) && b.base <= last(a);

/**
 * The range a worker hands out agents' subnets from, or why it cannot be one: an IPv4 network address
 * (no host bits) large enough for at least one agent's subnet.
 */
export function parseNetworkRange(text: string): { range?: Cidr; problem?: string } {
  const range = parseCidr(text);
  if (!range) return { problem: `"${text}" is not an IPv4 range (a.b.c.d/n, e.g. ${DEFAULT_NETWORK_RANGE})` };
  if (formatCidr(range) !== text.trim()) return { problem: `"${text}" has host bits set: the range starts at ${formatCidr(range)}` };
  if (range.prefix > AGENT_SUBNET_PREFIX)
    return { problem: `"${text}" is smaller than one agent's network (a /${AGENT_SUBNET_PREFIX}); e.g. ${DEFAULT_NETWORK_RANGE}` };
  return { range };
}

/** How many agents' subnets a range holds. */
export const subnetsIn = (range: Cidr, prefix = AGENT_SUBNET_PREFIX) => size(range.prefix) / size(prefix);

/**
 * The first block of `prefix` in `range` from block number `start` on (wrapping round to the
 * range's start) that overlaps none of `taken` (the engine's subnets, those being made right now,
 * those Docker just refused), or undefined when the range is full. Jumps over each taken block, so
 * a large range costs as many steps as there are taken blocks, not slots.
 */
export function chooseSubnet(range: Cidr, taken: Cidr[], prefix = AGENT_SUBNET_PREFIX, start = 0): Cidr | undefined {
  const step = size(prefix);
  const relevant = taken.filter((t) => overlaps(t, range)).sort((a, b) => a.base - b.base);
  const from = range.base + (start % subnetsIn(range, prefix)) * step;
  const base = firstFit(from, last(range), relevant, step) ?? firstFit(range.base, Math.min(from + step - 1, last(range)), relevant, step);
  return base === undefined ? undefined : { base, prefix };
}

/** The first aligned block of `step` addresses within [lo, hi] that overlaps none of `sorted`. */
function firstFit(lo: number, hi: number, sorted: Cidr[], step: number): number | undefined {
  let candidate = lo;
  for (const t of sorted) {
    if (last(t) < candidate) continue;
    if (t.base > candidate + step - 1) break; // a gap before this one: the candidate fits there
    candidate = Math.ceil((last(t) + 1) / step) * step; // the first aligned block past it
  }
  return candidate + step - 1 <= hi ? candidate : undefined;
}

/** A subnet a worker has picked for a network it is making. */
export interface Claim {
  subnet: Cidr;
  /** the network is made: a listing begun from now on shows it */
  made(): void;
  /** nothing was made with it */
  dropped(): void;
}

/**
 * One worker's subnets in the making, kept apart from each other. A listing of the engine's networks
 * shows what was made before it began; a subnet whose network is still being made, or was made
 * while the listing was under way, may be missing from it. Those are added to what the listing
 * shows, so that creations at once in one worker never pick the same block (another worker's
 * creations can: Docker refuses the second, runtimes/docker.ts).
 */
export class SubnetClaims {
  private seq = 0;
  private readonly claims = new Set<{ subnet: Cidr; doneAt?: number }>();
  /** listings under way, by when they began */
  private readonly listings = new Set<number>();

  /**
   * Lists the engine's networks with `list`, then (with nothing in between) picks a subnet with
   * `pick`, given the answer and this worker's subnets the answer may not show, and claims it.
   */
  async choose<T>(list: () => Promise<T>, pick: (answer: T, unseen: Cidr[]) => Cidr | undefined): Promise<{ answer: T; claim?: Claim }> {
    const began = ++this.seq;
    this.listings.add(began);
    try {
      const answer = await list();
      const unseen = [...this.claims].filter((c) => c.doneAt === undefined || c.doneAt > began).map((c) => c.subnet);
      const subnet = pick(answer, unseen);
      if (!subnet) return { answer };
      const entry: { subnet: Cidr; doneAt?: number } = { subnet };
      this.claims.add(entry);
      const claim = {
        subnet,
        made: () => {
          entry.doneAt = ++this.seq;
          this.prune();
        },
        dropped: () => {
          this.claims.delete(entry);
        },
      };
      return { answer, claim };
    } finally {
      this.listings.delete(began);
      this.prune();
    }
  }

  /** how many subnets are held (made, not yet shown to every listing under way; or in the making) */
  get size(): number {
    return this.claims.size;
  }

  private prune(): void {
    const oldest = Math.min(...this.listings); // Infinity when none is under way
    for (const c of this.claims) if (c.doneAt !== undefined && c.doneAt < oldest) this.claims.delete(c);
  }
}
