// Search attributes that let users filter runs in the Temporal UI. `agentvisor server` registers
// them on the dev server; `agentvisor setup` (or the first run) on a user's own cluster.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const GRAPH = defineSearchAttributeKey('AgentvisorGraph', SearchAttributeType.KEYWORD);
export const REPO = defineSearchAttributeKey('AgentvisorRepo', SearchAttributeType.KEYWORD);
export const STATUS = defineSearchAttributeKey('AgentvisorStatus', SearchAttributeType.KEYWORD);
export const COST = defineSearchAttributeKey('AgentvisorCostUsd', SearchAttributeType.DOUBLE);
export const HARNESSES = defineSearchAttributeKey('AgentvisorHarnesses', SearchAttributeType.KEYWORD_LIST);

export const ALL_SEARCH_ATTRIBUTES = [GRAPH, REPO, STATUS, COST, HARNESSES];

/** The CLI's names for the types, for `temporal server start-dev --search-attribute Name=Type`. */
export const CLI_TYPE: Record<string, string> = {
  KEYWORD: 'Keyword',
  DOUBLE: 'Double',
  KEYWORD_LIST: 'KeywordList',
};
