import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

/**
 * docker-compose.yml as the suite reads it: parsed with YAML merge keys (`<<: *app-env`), and variables
 * resolved the way compose resolves them. Shared by the static compose test and the Docker replay.
 */
export interface ComposeService {
  image?: string;
  build?: string | { context?: string };
  command?: string[] | string;
  environment?: Record<string, string | number | boolean | null>;
  healthcheck?: { test?: string[] | string; start_period?: string };
  volumes?: string[];
  restart?: string;
  ports?: string[];
  expose?: string[];
  depends_on?: Record<string, { condition?: string }>;
  entrypoint?: string[] | string;
  /** Started only with `--profile <name>` (the `cluster` profile's replica and Redis Cluster). */
  profiles?: string[];
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
}

export const ROOT = join(__dirname, '..', '..');

export function loadCompose(path = join(ROOT, 'docker-compose.yml')): ComposeFile {
  return parse(readFileSync(path, 'utf8'), { merge: true }) as ComposeFile;
}

/** Resolves ${VAR}, ${VAR:-default} and ${VAR:?message} the way compose does, with `given` as the shell env. */
export function interpolate(value: string, given: Record<string, string>): string {
  return String(value).replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_m, name: string, op: string | undefined, arg: string) => {
    if (given[name]) return given[name];
    if (op === '?') throw new Error(`compose requires ${name}: ${arg}`);
    return op === '-' ? arg : '';
  });
}

/** A service's environment with every variable resolved (compose refuses to start when a required one is missing). */
export function resolvedEnvironment(service: ComposeService, given: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v ?? ''), given)]));
}

/** Services that run this repository's image (built from the Dockerfile), e.g. api, worker, migrate. */
export function appServices(compose: ComposeFile): string[] {
  return Object.entries(compose.services)
    .filter(([, s]) => s.build !== undefined)
    .map(([name]) => name);
}

/** The database service: the one (outside profiles; the `cluster` profile adds a replica) whose image is a MySQL-family server. */
export function databaseService(compose: ComposeFile): { name: string; service: ComposeService } {
  const found = Object.entries(compose.services).filter(([, s]) => !s.profiles?.length && /^(mariadb|mysql|percona)\b/.test(s.image ?? ''));
  if (found.length !== 1) throw new Error(`expected one database service in compose, found ${found.map(([n]) => n).join(', ') || 'none'}`);
  return { name: found[0][0], service: found[0][1] };
}

export function commandArgs(service: ComposeService): string[] {
  const c = service.command ?? [];
  return Array.isArray(c) ? c.map(String) : c.split(/\s+/).filter(Boolean);
}

/** Secrets that must have a format, with a throwaway value of that format. */
const FORMATTED_SECRETS: Record<string, () => string> = {
  // Key ring: id:base64 of 32 random bytes (src/secrets/key-ring.ts).
  CHANNEL_SECRET_KEYS: () => `replay:${randomBytes(32).toString('base64')}`,
};

/** Every secret the compose file requires (its ${VAR:?…} references), with a throwaway value each. */
export function throwawaySecrets(path = join(ROOT, 'docker-compose.yml')): Record<string, string> {
  const text = readFileSync(path, 'utf8');
  const names = new Set([...text.matchAll(/\$\{(\w+):\?/g)].map((m) => m[1]));
  return Object.fromEntries([...names].map((n) => [n, FORMATTED_SECRETS[n]?.() ?? `${n.toLowerCase().replace(/_/g, '-')}-replay-secret`]));
}

/** Where each compose service is reached on this machine, standing in for the compose network. */
export interface LocalEndpoints {
  /** compose service → its container port → the local port standing in for it. */
  services: Record<string, Record<number, number>>;
  /** host port compose publishes (`ports: ["H:C"]`) → the local port standing in for it. */
  published: Record<number, number>;
}

/** Container ports a service listens on (`ports` container side, `expose`). */
export function containerPorts(service: ComposeService): number[] {
  return [...(service.ports ?? []).map((p) => String(p).split(':').pop()!), ...(service.expose ?? [])].map((p) => Number(String(p).split('/')[0]));
}

/** Host ports a service publishes, with the container port each forwards to. */
export function publishedPorts(service: ComposeService): Array<{ host: number; container: number }> {
  return (service.ports ?? [])
    .map((p) => String(p).split(':'))
    .filter((parts) => parts.length >= 2)
    .map((parts) => ({ host: Number(parts[parts.length - 2]), container: Number(parts[parts.length - 1].split('/')[0]) }));
}

/**
 * A service's resolved environment with compose host names replaced by local addresses:
 * - URLs naming a service (`redis://redis:6379`, `http://api:3000/...`) or a published port
 *   (`http://localhost:3000`) point at the local stand-in;
 * - `X_HOST`/`X_ENDPOINT` naming a service become 127.0.0.1, and `X_PORT` its local port;
 * - `PORT`, when it is one of the service's own container ports, becomes its local port.
 * A value that still names a compose service afterwards is an error: the replay would not know where
 * that variable should point, so it says so instead of letting the process look the name up.
 */
export function toLocalEnvironment(self: string, env: Record<string, string>, endpoints: LocalEndpoints, serviceNames: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const localPort = (service: string, port: number) => endpoints.services[service]?.[port];
  for (const [key, value] of Object.entries(env)) {
    out[key] = value.replace(/\/\/([A-Za-z0-9_.-]+):(\d+)/g, (whole, host: string, port: string) => {
      const local = host === 'localhost' || host === '127.0.0.1' ? endpoints.published[Number(port)] : localPort(host, Number(port));
      return local ? `//127.0.0.1:${local}` : whole;
    });
  }
  for (const [key, value] of Object.entries(env)) {
    if (!/_(HOST|ENDPOINT)$/.test(key) || !endpoints.services[value]) continue;
    const portKey = key.replace(/_(HOST|ENDPOINT)$/, '_PORT');
    const local = localPort(value, Number(env[portKey]));
    if (!local) throw new Error(`replay: ${self}: ${key}=${value} needs ${portKey} set to a port ${value} listens on (${Object.keys(endpoints.services[value]).join(', ')})`);
    out[key] = '127.0.0.1';
    out[portKey] = String(local);
  }
  if (env.PORT && localPort(self, Number(env.PORT))) out.PORT = String(localPort(self, Number(env.PORT)));
  for (const [key, value] of Object.entries(out)) {
    for (const name of serviceNames) {
      if ((value === name && /(HOST|ENDPOINT|ADDR|ADDRESS|SERVER)$/.test(key)) || new RegExp(`(//|@)${name.replace(/[.-]/g, '\\$&')}(:|/|$)`).test(value)) {
        throw new Error(`replay: ${self}: ${key}=${value} names compose service "${name}", which has no local stand-in (teach test/deploy/docker-replay.test.ts)`);
      }
    }
  }
  return out;
}
