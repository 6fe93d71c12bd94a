// Registers agentvisor's search attributes on a Temporal cluster through the operator API.
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { ALL_SEARCH_ATTRIBUTES } from '../contract/search-attributes';

const TYPE: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  DOUBLE: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  KEYWORD_LIST: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

export type SetupResult = { registered: string[]; present: string[] } | { error: string };

/** Adds the missing attributes; says clearly when the caller lacks the permission. */
export async function registerSearchAttributes(client: Client): Promise<SetupResult> {
  const namespace = client.options.namespace;
  try {
    const existing = await client.connection.operatorService.listSearchAttributes({ namespace });
    const known = new Set([...Object.keys(existing.customAttributes ?? {}), ...Object.keys(existing.systemAttributes ?? {})]);
    const missing = ALL_SEARCH_ATTRIBUTES.filter((a) => !known.has(a.name));
    if (missing.length) {
      await client.connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map((a) => [a.name, TYPE[a.type]])),
      });
    }
    return { registered: missing.map((a) => a.name), present: ALL_SEARCH_ATTRIBUTES.filter((a) => known.has(a.name)).map((a) => a.name) };
  } catch (err) {
    const e = err as { code?: number; details?: string; message: string };
    const denied = e.code === 7 || e.code === 16; // PERMISSION_DENIED, UNAUTHENTICATED
    return {
      error: denied
        ? `no permission to register search attributes on namespace ${namespace} (${e.details ?? e.message}); ask an admin to run \`agentvisor setup\`. Runs work without them, but cannot be filtered in the UI.`
        : `could not register search attributes: ${e.details ?? e.message}`,
    };
  }
}
