// Where things live: the Temporal server to talk to and the local data folder.
import { defaultDataDir } from '../paths/data-folder';

export const DEFAULT_ADDRESS = '127.0.0.1:7233';
export const DEFAULT_UI_PORT = 8233;

export interface ClientConfig {
  address: string;
  namespace: string;
  /** true when the user named a server; we then never start one */
  explicitAddress: boolean;
  dataDir: string;
  uiUrl: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ClientConfig {
  const address = env.TEMPORAL_ADDRESS || DEFAULT_ADDRESS;
  return {
    address,
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    explicitAddress: !!env.TEMPORAL_ADDRESS,
    dataDir: defaultDataDir(env),
    uiUrl: env.AGENTVISOR_UI_URL || (env.TEMPORAL_ADDRESS ? '' : `http://localhost:${DEFAULT_UI_PORT}`),
  };
}

export function runUiLink(cfg: ClientConfig, runId: string): string | undefined {
  if (!cfg.uiUrl) return undefined;
  return `${cfg.uiUrl}/namespaces/${encodeURIComponent(cfg.namespace)}/workflows/${encodeURIComponent(runId)}`;
}
