# The apikeys server as a container image. Two stages:
# - build: the whole project's dependencies, then the server bundle (dist/apikeys.js) with, beside
#   it, dist/package.json naming only the packages the bundle imports, and dist/package-lock.json,
#   the project's lockfile reduced to those packages (same versions).
#   It also builds the API keys page (web/dist).
# - runtime: that manifest's production dependencies from that lockfile, the bundle, the scope
#   catalog and the page; no tsx, no esbuild, no Vite, no embedded Postgres (give it
#   DATABASE_URL), run as `node`.
# test/container-image.test.ts performs these steps and parses this file, so keep each RUN one
# command line. Bases are pinned to a release; pin digests too where your registry policy asks.
#
#   docker build -t apikeys .        docker compose up        (see README: Running in a container)

FROM node:24.22.3-trixie-slim AS build
WORKDIR /src
COPY . .
RUN npm ci --ignore-scripts --no-audit --no-fund
RUN npm run build:server
# The API keys page (web/, issue 17): the server serves web/dist on the HTTP port.
RUN npm run build:web
RUN cp package-lock.json dist/ && npm install --prefix dist --package-lock-only --ignore-scripts --no-audit --no-fund

FROM node:24.22.3-trixie-slim AS runtime
ENV NODE_ENV=production APIKEYS_HOST=0.0.0.0 APIKEYS_GRPC_PORT=50051 APIKEYS_HTTP_PORT=8080
WORKDIR /app
COPY --from=build /src/dist/package.json /src/dist/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist/apikeys.js ./dist/
COPY --from=build /src/config ./config/
COPY --from=build /src/web/dist ./web/dist/
USER node
EXPOSE 50051 8080
# The readiness path (see README: Health and readiness); plain HTTP, so not with APIKEYS_TLS_*.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD node -e "fetch('http://127.0.0.1:' + (process.env.APIKEYS_HTTP_PORT || 8080) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["node", "dist/apikeys.js"]
CMD ["serve"]
