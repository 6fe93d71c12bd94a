/** The image agents and evaluations use unless the graph names another. */
export const BASE_IMAGE = 'agentvisor/base:latest';
/** The image the agent CLI harnesses (claude-code, codex, gemini-cli, opencode) use by default. */
export const AGENTS_IMAGE = 'agentvisor/agents:latest';
