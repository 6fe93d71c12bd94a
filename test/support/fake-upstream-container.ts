// The stand-in provider (fake-upstream.js) in a container, on an egress network of the test's own
// under the host names it plays; the runs' gateways take that network for their egress.
import Docker from 'dockerode';
import { BASE_IMAGE } from '../../images/constants';
import { DockerRuntime } from '../../runtimes/docker';

export interface FakeUpstream {
  /** its container's name (docker exec into it, stop it) */
  name: string;
  remove: () => Promise<void>;
}

export async function startFakeUpstream(aliases: string[]): Promise<FakeUpstream> {
  const runtime = new DockerRuntime();
  const egress = `agentvisor-test-egress-${process.pid}`;
  const name = `agentvisor-test-upstream-${process.pid}`;
  await runtime.createNetwork(egress, { internal: false, labels: {} });
  await runtime.remove(name);
  await runtime.start({
    name,
    image: BASE_IMAGE,
    command: ['node', '/srv/fake-upstream.js'],
    env: {},
    workdir: '/',
    // this folder, where fake-upstream.js is
    mounts: [{ source: __dirname, target: '/srv', readOnly: true }],
    user: '1000:1000',
    labels: {},
    network: egress,
    tmpfs: ['/tmp'],
  });
  // rejoin under the host names it plays
  await new Docker().getNetwork(egress).disconnect({ Container: name });
  await new Docker().getNetwork(egress).connect({ Container: name, EndpointConfig: { Aliases: aliases } });
  process.env.AGENTVISOR_GATEWAY_EGRESS_NETWORK = egress;
  return {
    name,
    remove: async () => {
      delete process.env.AGENTVISOR_GATEWAY_EGRESS_NETWORK;
      await runtime.remove(name);
      await runtime.removeNetwork(egress);
    },
  };
}
