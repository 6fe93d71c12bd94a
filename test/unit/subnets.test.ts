// Agents' networks take a /29 of the worker's range, the first free one on the engine (runtimes/
// subnets.ts); several creations at once in one worker keep apart, and a worker that loses a race
// with another for a block moves on to the next (runtimes/docker.ts). The engine here is a fake
// that answers as Docker 20.10 does; test/e2e/network-pools.test.ts does the same on the real one.
import type Docker from 'dockerode';
import { DockerRuntime } from '../../runtimes/docker';
import { runtimeFromFlags } from '../../runtimes/select';
import { chooseSubnet, formatCidr, overlaps, parseCidr, parseNetworkRange, subnetsIn, type Cidr } from '../../runtimes/subnets';

const cidr = (text: string) => parseCidr(text)!;
const choose = (range: string, ...taken: string[]) => {
  const c = chooseSubnet(cidr(range), taken.map(cidr));
  return c && formatCidr(c);
};

describe('choosing a subnet', () => {
  test('the first /29 of the range when the engine has nothing there', () => {
    expect(choose('10.213.0.0/16')).toBe('10.213.0.0/29');
    expect(choose('10.213.0.0/16', '172.17.0.0/16', '192.168.0.0/20')).toBe('10.213.0.0/29');
  });

  test('past what is taken, to the next aligned block; into the first gap', () => {
    expect(choose('10.213.0.0/16', '10.213.0.0/29')).toBe('10.213.0.8/29');
    expect(choose('10.213.0.0/16', '10.213.0.0/24')).toBe('10.213.1.0/29');
    // a smaller network (another tool's /30) still blocks the /29 around it
    expect(choose('10.213.0.0/16', '10.213.0.4/30')).toBe('10.213.0.8/29');
    // a larger one that covers the range's start, and one larger than the whole range
    expect(choose('10.213.0.0/16', '10.212.0.0/15')).toBeUndefined();
    expect(choose('10.213.0.0/16', '10.0.0.0/8')).toBeUndefined();
    expect(choose('10.213.0.0/16', '10.213.0.16/29', '10.213.0.0/29', '10.213.0.8/29', '10.213.0.40/29')).toBe('10.213.0.24/29');
    // unsorted, nested, overlapping
    expect(choose('10.213.0.0/16', '10.213.0.8/29', '10.213.0.0/27', '10.213.0.32/29')).toBe('10.213.0.40/29');
  });

  test('from a starting block on, wrapping round to the range’s start', () => {
    const start = (range: string, n: number, ...taken: string[]) => {
      const c = chooseSubnet(cidr(range), taken.map(cidr), 29, n);
      return c && formatCidr(c);
    };
    expect(start('10.213.0.0/16', 1000)).toBe('10.213.31.64/29'); // 1000 × 8 = 8000 = 31·256 + 64
    expect(start('10.213.0.0/16', 8191)).toBe('10.213.255.248/29');
    expect(start('10.213.0.0/16', 8191, '10.213.255.248/29')).toBe('10.213.0.0/29');
    expect(start('10.213.0.0/16', 8191, '10.213.255.0/24', '10.213.0.0/29')).toBe('10.213.0.8/29');
    expect(start('10.213.0.0/28', 1, '10.213.0.8/29')).toBe('10.213.0.0/29');
    expect(start('10.213.0.0/28', 1, '10.213.0.8/29', '10.213.0.0/29')).toBeUndefined();
    // a taken block that spans the start
    expect(start('10.213.0.0/16', 4, '10.213.0.0/26')).toBe('10.213.0.64/29');
  });

  test('a full range: none', () => {
    expect(choose('10.213.0.0/29', '10.213.0.0/29')).toBeUndefined();
    expect(choose('10.213.0.0/28', '10.213.0.0/29', '10.213.0.8/29')).toBeUndefined();
    expect(choose('10.213.0.0/28', '10.213.0.0/29')).toBe('10.213.0.8/29');
  });

  test('every block once, none overlapping, until the range is full; fast on a large range', () => {
    const range = cidr('10.213.0.0/22');
    const taken: Cidr[] = [];
    for (let c = chooseSubnet(range, taken); c; c = chooseSubnet(range, taken)) {
      expect(taken.some((t) => overlaps(t, c!))).toBe(false);
      taken.push(c);
    }
    expect(taken.length).toBe(subnetsIn(range)); // 128
    const big = cidr('10.0.0.0/8');
    const many = Array.from({ length: 20000 }, (_, i) => ({ base: big.base + i * 8, prefix: 29 })).reverse();
    const started = Date.now();
    expect(formatCidr(chooseSubnet(big, many)!)).toBe('10.2.113.0/29'); // 20000 × 8 = 160000 = 2·65536 + 113·256
    expect(Date.now() - started).toBeLessThan(500);
  });
});

describe('the range a worker is given', () => {
  test('valid: a network address, a /29 at the least', () => {
    expect(parseNetworkRange('10.213.0.0/16').range).toEqual(cidr('10.213.0.0/16'));
    expect(subnetsIn(parseNetworkRange('10.213.0.0/16').range!)).toBe(8192);
    expect(parseNetworkRange('192.168.77.8/29').range).toBeDefined();
  });

  test('refused, with the reason', () => {
    expect(parseNetworkRange('10.213.0.1/16').problem).toMatch(/host bits set: the range starts at 10.213.0.0\/16/);
    expect(parseNetworkRange('10.213.0.0/30').problem).toMatch(/smaller than one agent's network \(a \/29\)/);
    for (const bad of ['10.213.0.0', 'fd00::/64', '10.213.0.256/16', '10.213.0.0/33', 'ten/8', '']) {
      expect(parseNetworkRange(bad).problem).toMatch(/is not an IPv4 range/);
    }
  });

  test('`agentvisor worker`: a bad --network-range or AGENTVISOR_NETWORK_RANGE is bad input (exit 2), nothing started', async () => {
    await expect(runtimeFromFlags({ networkRange: '10.0.0.1/8' })).rejects.toMatchObject({
      name: 'BadInputError',
      message: expect.stringMatching(/--network-range "10.0.0.1\/8" has host bits set/),
    });
    await expect(runtimeFromFlags({ runtime: 'kubernetes', namespace: 'x', networkRange: '10.0.0.0/8' })).rejects.toThrow(
      /--network-range is for --runtime docker/,
    );
    process.env.AGENTVISOR_NETWORK_RANGE = '10.1.0.0/30';
    try {
      await expect(runtimeFromFlags({})).rejects.toThrow(/AGENTVISOR_NETWORK_RANGE "10.1.0.0\/30" is smaller than one agent's network/);
      // the flag wins over the variable
      const runtime = (await runtimeFromFlags({ networkRange: '10.50.0.0/16' })) as DockerRuntime;
      expect(formatCidr(runtime.networkRange)).toBe('10.50.0.0/16');
    } finally {
      delete process.env.AGENTVISOR_NETWORK_RANGE;
    }
  });

  test('the runtime takes it from its option, else AGENTVISOR_NETWORK_RANGE, else the default', () => {
    const engine = new FakeEngine() as unknown as Docker;
    expect(formatCidr(new DockerRuntime(engine).networkRange)).toBe('10.213.0.0/16');
    process.env.AGENTVISOR_NETWORK_RANGE = '10.99.0.0/20';
    try {
      expect(formatCidr(new DockerRuntime(engine).networkRange)).toBe('10.99.0.0/20');
      expect(formatCidr(new DockerRuntime(engine, { networkRange: '10.98.0.0/24' }).networkRange)).toBe('10.98.0.0/24');
      process.env.AGENTVISOR_NETWORK_RANGE = 'nonsense';
      expect(() => new DockerRuntime(engine)).toThrow(/"nonsense" is not an IPv4 range .*AGENTVISOR_NETWORK_RANGE/);
    } finally {
      delete process.env.AGENTVISOR_NETWORK_RANGE;
    }
  });
});

/** Docker's networks API as far as createNetwork uses it, with its answers (20.10) and some latency. */
class FakeEngine {
  networks: {
    Name: string;
    Labels: Record<string, string>;
    IPAM: { Config: { Subnet: string }[] };
    Options?: Record<string, string>;
    Internal?: boolean;
  }[] = [
    { Name: 'bridge', Labels: {}, IPAM: { Config: [{ Subnet: '172.17.0.0/16' }] } },
    { Name: 'none', Labels: {}, IPAM: { Config: [] } },
  ];
  refusals = 0;
  creates = 0;
  private tick = () => new Promise((r) => setTimeout(r, Math.random() * 3));

  async listNetworks(opts?: { filters?: { name?: string[] } }) {
    await this.tick();
    const names = opts?.filters?.name;
    // taken here, answered later: a network made meanwhile is not in the answer (as with Docker)
    const answer = structuredClone(this.networks.filter((n) => !names || names.some((x) => n.Name.includes(x))));
    await this.tick();
    return answer;
  }

  async createNetwork(o: {
    Name: string;
    Labels: Record<string, string>;
    Internal: boolean;
    IPAM?: { Config: { Subnet: string }[] };
    Options?: Record<string, string>;
  }) {
    this.creates++;
    await this.tick();
    if (this.networks.some((n) => n.Name === o.Name))
      throw Object.assign(new Error(`(HTTP code 409) unexpected - network with name ${o.Name} already exists`), { statusCode: 409 });
    const subnet = o.IPAM?.Config[0]?.Subnet ?? `172.${18 + this.networks.length}.0.0/16`;
    if (this.networks.some((n) => n.IPAM.Config.some((c) => overlaps(cidr(c.Subnet), cidr(subnet))))) {
      this.refusals++;
      throw Object.assign(new Error('(HTTP code 403) unexpected - Pool overlaps with other one on this address space '), {
        statusCode: 403,
      });
    }
    this.networks.push({
      Name: o.Name,
      Labels: o.Labels,
      Internal: o.Internal,
      Options: o.Options,
      IPAM: { Config: [{ Subnet: subnet }] },
    });
  }
}

describe('creating agents’ networks', () => {
  // the bridges do not exist here: hardenBridge's warning is not the subject
  beforeAll(() => jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined));
  afterAll(() => jest.restoreAllMocks());

  const subnetsOf = (engine: FakeEngine, prefix: string) =>
    engine.networks.filter((n) => n.Name.startsWith(prefix)).map((n) => n.IPAM.Config[0].Subnet);
  const disjoint = (subnets: string[]) => subnets.every((a, i) => subnets.every((b, j) => i === j || !overlaps(cidr(a), cidr(b))));

  test('forty at once in one worker: forty /29s of its range, none refused', async () => {
    const engine = new FakeEngine();
    const runtime = new DockerRuntime(engine as unknown as Docker);
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        runtime.createNetwork(`agent-${i}.net`, { internal: true, labels: { 'org.agentvisor.run': 'r' } }),
      ),
    );
    const subnets = subnetsOf(engine, 'agent-');
    expect(subnets.length).toBe(40);
    expect(disjoint(subnets)).toBe(true);
    expect(subnets.every((s) => s.endsWith('/29') && overlaps(cidr(s), cidr('10.213.0.0/16')))).toBe(true);
    expect(engine.refusals).toBe(0);
    expect(runtime.claims.size).toBe(0); // nothing held once every listing under way is done
    const one = engine.networks.find((n) => n.Name === 'agent-0.net')!;
    expect(one).toMatchObject({
      Internal: true,
      Labels: { 'org.agentvisor.run': 'r' },
      Options: { 'com.docker.network.bridge.inhibit_ipv4': 'true' },
    });
    expect(one.Options!['com.docker.network.bridge.name']).toMatch(/^avn[0-9a-f]{12}$/);
  });

  test('two workers on one engine race for the same blocks: the refused one moves on', async () => {
    const engine = new FakeEngine();
    // both begin at the range's first block (by default each begins at a block of its own, at random)
    const a = new DockerRuntime(engine as unknown as Docker, { firstSubnet: 0 });
    const b = new DockerRuntime(engine as unknown as Docker, { firstSubnet: 0 });
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => [
        a.createNetwork(`a-${i}.net`, { internal: true, labels: {} }),
        b.createNetwork(`b-${i}.net`, { internal: true, labels: {} }),
      ]).flat(),
    );
    const subnets = [...subnetsOf(engine, 'a-'), ...subnetsOf(engine, 'b-')];
    expect(subnets.length).toBe(40);
    expect(disjoint(subnets)).toBe(true);
    expect(engine.refusals).toBeGreaterThan(0); // the race did happen, and was survived
  });

  test('a network that is there already: nothing made; the same name twice at once: one network', async () => {
    const engine = new FakeEngine();
    const runtime = new DockerRuntime(engine as unknown as Docker);
    await Promise.all([1, 2, 3].map(() => runtime.createNetwork('twice.net', { internal: true, labels: {} })));
    expect(engine.networks.filter((n) => n.Name === 'twice.net').length).toBe(1);
    const creates = engine.creates;
    await runtime.createNetwork('twice.net', { internal: true, labels: {} });
    expect(engine.creates).toBe(creates);
  });

  test('a full range: an error that names the knob and gc; other errors are not retried', async () => {
    const engine = new FakeEngine();
    const runtime = new DockerRuntime(engine as unknown as Docker, { networkRange: '10.213.7.0/28' });
    await runtime.createNetwork('one.net', { internal: true, labels: {} });
    await runtime.createNetwork('two.net', { internal: true, labels: {} });
    await expect(runtime.createNetwork('three.net', { internal: true, labels: {} })).rejects.toThrow(
      /no free \/29 left in 10.213.7.0\/28 for network three.net .*holds 2.*agentvisor gc.*--network-range or AGENTVISOR_NETWORK_RANGE/,
    );
    engine.createNetwork = async () => {
      engine.creates++;
      throw Object.assign(new Error('(HTTP code 500) server error - something else'), { statusCode: 500 });
    };
    const before = engine.creates;
    await expect(new DockerRuntime(engine as unknown as Docker).createNetwork('four.net', { internal: true, labels: {} })).rejects.toThrow(
      /something else/,
    );
    expect(engine.creates - before).toBe(1);
  });

  test('a network that is not internal (the tests’ egress) is left to Docker’s own pools', async () => {
    const engine = new FakeEngine();
    await new DockerRuntime(engine as unknown as Docker).createNetwork('egress', { internal: false, labels: {} });
    expect(engine.networks.find((n) => n.Name === 'egress')!.IPAM.Config[0].Subnet).toMatch(/^172\./);
  });
});
