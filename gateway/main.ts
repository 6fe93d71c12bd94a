// The gateway's entry point:
//   node dist/gateway/main.js --config /path/config.json [--check]
//   node gateway.bundle.js --config /path/config.json        (the one-file build, node only)
// The config path can also come from AGENTVISOR_GATEWAY_CONFIG. --check validates the config (and,
// in record/replay mode, the cassettes) and exits without listening.
// Exit codes: 0 stopped by SIGTERM/SIGINT (or --check passed), 1 cannot listen, 2 bad config or cassette.
import pino from 'pino';
import { CassetteError } from './cassette';
import { ConfigError, loadGatewayConfig } from './config';
import { createGateway } from './server';

export const USAGE = 'usage: agentvisor-gateway --config FILE [--check]   (or AGENTVISOR_GATEWAY_CONFIG=FILE)';

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let configPath = env.AGENTVISOR_GATEWAY_CONFIG;
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--config') configPath = argv[++i];
    else if (a.startsWith('--config=')) configPath = a.slice('--config='.length);
    else if (a === '--check') check = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE + '\n');
      return 0;
    } else {
      process.stderr.write(`agentvisor gateway: unknown argument ${a}\n${USAGE}\n`);
      return 2;
    }
  }
  if (!configPath) {
    process.stderr.write(`agentvisor gateway: no config given\n${USAGE}\n`);
    return 2;
  }

  // One line per request, written without blocking: pino's destination (sonic-boom) writes stdout
  // asynchronously and gathers the lines that come while a write is under way into the next one.
  // A synchronous write per request (stdout is a pipe to the container's log) stalled every call.
  const out = pino.destination({ dest: 1, sync: false });
  process.once('exit', () => {
    try {
      out.flushSync();
    } catch {
      // a write still under way at exit: nothing more can be done
    }
  });
  const say = (line: string) => void out.write(line + '\n');

  let gateway: ReturnType<typeof createGateway>;
  let cfg: ReturnType<typeof loadGatewayConfig>;
  try {
    cfg = loadGatewayConfig(configPath, env);
    gateway = createGateway(cfg, { log: say }); // loads and validates the cassettes in record/replay mode
  } catch (err) {
    if (err instanceof ConfigError || err instanceof CassetteError) {
      process.stderr.write(`agentvisor gateway: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (check) {
    process.stdout.write(`agentvisor gateway: config ${configPath} is valid (mode ${cfg.mode}, ${cfg.tasks.size} tasks)\n`);
    return 0;
  }

  try {
    const addr = await gateway.listen();
    const ctl = gateway.controlAddress();
    say(
      `agentvisor gateway: listening on ${addr.address}:${addr.port}${ctl ? ` control on ${ctl.address}:${ctl.port}` : ''} mode=${cfg.mode} tasks=${[...cfg.tasks.values()].map((t) => t.taskId).join(',')} ` +
        `providers=${[...cfg.providers.values()].map((p) => `${p.name}->${p.upstream.origin}`).join(',')}`,
    );
  } catch (err) {
    process.stderr.write(`agentvisor gateway: cannot listen on ${cfg.listen.host}:${cfg.listen.port}: ${(err as Error).message}\n`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      say(`agentvisor gateway: ${signal}, stopping`);
      void gateway.close().then(() => resolve(0));
      setTimeout(() => resolve(0), 5000).unref();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`agentvisor gateway: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
