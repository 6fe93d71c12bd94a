# agentvisor agents image, the offline build (what `agentvisor images build` and the tests use): the
# base image plus the four agent CLIs (Claude Code, Gemini CLI, Codex, OpenCode) at the pins of
# package.json / package-lock.json. One image for all four harnesses (see the README, "Images").
# images/agents/Dockerfile is the same image for users with a container registry.
#
# Built by images/build.ts ensureAgentsImage(): `npm install` of images/agents/package.json on the
# host (the only step that needs a registry, and only npm's), then this file, copied into that
# install folder as its Dockerfile, with the legacy builder; the build context is that folder, so no
# registry is needed inside the build.
FROM agentvisor/base:latest

LABEL org.agentvisor.image=agents

COPY node_modules /opt/agents/node_modules

ENV PATH=/opt/agents/node_modules/.bin:/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin \
    HOME=/home/agent
WORKDIR /workspace
USER 1000:1000
