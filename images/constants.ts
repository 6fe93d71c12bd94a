/** The image agents and evaluations use unless the graph names another. */
export const BASE_IMAGE = 'agentvisor/base:latest';
