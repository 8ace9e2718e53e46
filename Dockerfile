# One image for every role; pick the role with ROLE (api, worker, cron, simulator, gateway-wechaty; see `--role` in
# src/main.ts). The suite replays this file step by step (test/deploy/docker-replay.test.ts): keep the
# build in COPY and RUN lines it can follow.
FROM node:20-bookworm-slim AS build
# A toolchain for native addons that compile on install: argon2 falls back to node-gyp when its
# prebuilt binary does not load on the machine. Build stage only; the final image has none.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workers ./workers
COPY scripts ./scripts
COPY migrations ./migrations
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
ENV ROLE=api
ENV NODE_OPTIONS=--enable-source-maps
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000 3100
# Exec form: node is PID 1 and receives `docker stop`'s SIGTERM itself (graceful drain); it reads ROLE.
CMD ["node", "dist/src/main.js"]
