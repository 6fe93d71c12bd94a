# agentvisor agents image: the base image plus the four agent CLIs (Claude Code, Gemini CLI, Codex,
# OpenCode) at pinned versions. One image for all four harnesses: they share the base layers and
# node, and one ~1 GB layer built once is cheaper than four images that each carry Debian + node.
#
# Built by images/build.ts ensureAgentsImage(): `npm install` of images/agents/package.json on the
# host (the only step that needs the npm registry), then this Dockerfile with the legacy builder;
# the build context is that install folder, so no registry is needed inside the build.
FROM agentvisor/base:latest

LABEL org.agentvisor.image=agents

COPY node_modules /opt/agents/node_modules

ENV PATH=/opt/agents/node_modules/.bin:/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin \
    HOME=/home/agent
WORKDIR /workspace
USER 1000:1000
