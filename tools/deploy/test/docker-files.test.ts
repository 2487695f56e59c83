import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { GATEWAY_FORCED_EXIT_MARGIN_MS, loadGatewayConfig } from '@dfleet/gateway';
import { loadWorkerConfig } from '@dfleet/worker';
import { APP_BUNDLES } from '../src/bundle-apps.ts';
import { parseDockerfile, resolvedBase, type DockerStage, type ParsedDockerfile } from '../src/dockerfile.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEPLOY = `${ROOT}deploy/`;

function dockerfile(name: string): ParsedDockerfile {
  return parseDockerfile(readFileSync(`${DEPLOY}docker/${name}`, 'utf8'));
}

/** The images that run: the gateway's last stage, and the worker's two variants. */
const RUN_STAGES = [
  { file: 'gateway.Dockerfile', stage: 'runtime', app: 'gateway' },
  { file: 'worker.Dockerfile', stage: 'cuda', app: 'worker' },
  { file: 'worker.Dockerfile', stage: 'webgpu', app: 'worker' },
] as const;

function stageNamed(file: ParsedDockerfile, name: string): DockerStage {
  const stage = file.stages.find((s) => s.name === name);
  if (stage === undefined) throw new Error(`no stage '${name}' (stages: ${file.stages.map((s) => s.name).join(', ')})`);
  return stage;
}

/** The stage and every stage it is built FROM or copies --from, by name. */
function lineage(file: ParsedDockerfile, stage: DockerStage): DockerStage[] {
  const seen = new Map<string | undefined, DockerStage>();
  const visit = (current: DockerStage) => {
    if (seen.has(current.name)) return;
    seen.set(current.name, current);
    const parents = [
      current.base,
      ...current.instructions
        .filter((i) => i.keyword === 'COPY')
        .map((i) => i.args.match(/--from=(\S+)/)?.[1])
        .filter((from) => from !== undefined),
    ];
    for (const parent of parents) {
      const found = file.stages.find((s) => s.name === parent);
      if (found) visit(found);
    }
  };
  visit(stage);
  return [...seen.values()];
}

const lastOf = (stage: DockerStage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword).at(-1);

describe('deploy/docker Dockerfiles', () => {
  it.each(['gateway.Dockerfile', 'worker.Dockerfile'])('%s is multi-stage on pinned node:20 / CUDA bases', (name) => {
    const file = dockerfile(name);
    expect(file.stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of file.stages) {
      const base = resolvedBase(file, stage);
      if (file.stages.some((s) => s.name === base)) continue;
      // A full version (or a digest), never `latest` or a bare major.
      expect(base, `stage ${stage.name}`).toMatch(/^[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?$/);
      expect(base, `stage ${stage.name}`).toMatch(/^(node:20\.\d+\.\d+-bookworm-slim|nvidia\/cuda:12\.)/);
    }
  });

  it.each(RUN_STAGES)(
    '$file $stage runs the compiled bundle on plain node as a non-root user',
    ({ file, stage, app }) => {
      const parsed = dockerfile(file);
      const image = stageNamed(parsed, stage);
      const cmd = JSON.parse(lastOf(image, 'CMD')?.args ?? 'null') as string[];
      expect(cmd[0]).toBe('node');
      expect(cmd.at(-1)).toBe(`${APP_BUNDLES[app].outdir}/main.mjs`);
      expect(cmd.join(' ')).not.toMatch(/tsx|--import|--loader|\.ts\b/);
      expect(image.instructions.some((i) => i.keyword === 'ENTRYPOINT')).toBe(false);

      // USER comes after every RUN, is numeric (runAsNonRoot can check it) and is not root.
      const userIndex = image.instructions.findLastIndex((i) => i.keyword === 'USER');
      const lastRunIndex = image.instructions.findLastIndex((i) => i.keyword === 'RUN');
      expect(userIndex).toBeGreaterThan(lastRunIndex);
      const [uid, gid] = (image.instructions[userIndex]?.args ?? '').split(':').map(Number);
      expect(uid).toBeGreaterThan(0);
      expect(gid).toBeGreaterThan(0);

      expect(lastOf(image, 'HEALTHCHECK')?.args).toMatch(/\/healthz/);
    },
  );

  it.each(RUN_STAGES)(
    '$file $stage installs production dependencies only, from a bundle it built',
    ({ file, stage, app }) => {
      const parsed = dockerfile(file);
      const runs = lineage(parsed, stageNamed(parsed, stage)).flatMap((s) =>
        s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args),
      );
      expect(runs.some((run) => run.includes(`npm ci --omit=dev --workspace @dfleet/${app}`))).toBe(true);
      expect(runs.some((run) => run.includes(`npm run bundle -- ${app}`))).toBe(true);
      expect(runs.some((run) => run.includes(`tools/deploy/src/stage-app.ts ${app} /stage`))).toBe(true);
    },
  );

  it.each(['gateway.Dockerfile', 'worker.Dockerfile'])(
    "%s runs npm ci only with package.json's packageManager npm (older ones ignore allowScripts)",
    (name) => {
      const file = dockerfile(name);
      const rootManifest = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { packageManager: string };
      expect(`npm@${file.globalArgs['NPM_VERSION']}`).toBe(rootManifest.packageManager);
      const installers = file.stages.filter((stage) =>
        stage.instructions.some((i) => i.keyword === 'RUN' && i.args.includes('npm ci')),
      );
      expect(installers.length).toBeGreaterThan(0);
      for (const stage of installers) {
        const runs = stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
        const upgrade = runs.findIndex((run) => /^npm install -g npm@\$\{NPM_VERSION\} /.test(run));
        expect(upgrade, `stage ${stage.name}`).toBeGreaterThanOrEqual(0);
        expect(upgrade, `stage ${stage.name}`).toBeLessThan(runs.findIndex((run) => run.includes('npm ci')));
      }
    },
  );

  it('puts the CUDA provider in the cuda image and the Vulkan loader in the webgpu one', () => {
    const parsed = dockerfile('worker.Dockerfile');
    const runsOf = (stage: string) =>
      lineage(parsed, stageNamed(parsed, stage)).flatMap((s) =>
        s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args),
      );
    expect(runsOf('cuda').some((run) => run.includes('ONNXRUNTIME_NODE_INSTALL=cuda12'))).toBe(true);
    expect(runsOf('webgpu').some((run) => run.includes('ONNXRUNTIME_NODE_INSTALL=cuda12'))).toBe(false);
    expect(runsOf('webgpu').some((run) => /apt-get install .*libvulkan1/.test(run))).toBe(true);
    // Without --target, docker builds the last stage: the one that also runs on CPU.
    expect(parsed.stages.at(-1)?.name).toBe('webgpu');
  });

  it('the old tsx-running deploy/Dockerfile is gone', () => {
    expect(existsSync(`${DEPLOY}Dockerfile`)).toBe(false);
  });
});

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string; target?: string };
  command?: string[];
  environment?: Record<string, string>;
  profiles?: string[];
  stop_grace_period?: string;
  volumes?: string[];
  deploy?: {
    resources?: { reservations?: { devices?: { driver: string; device_ids: string[]; capabilities: string[] }[] } };
  };
}

const compose = parse(readFileSync(`${DEPLOY}compose.yaml`, 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const services = Object.entries(compose.services);
const built = (dockerfileName: string) =>
  services.filter(([, service]) => service.build?.dockerfile === `deploy/docker/${dockerfileName}`);
/** A service's environment with `${NAME:-default}` filled in from `shell`, as docker compose does. */
function interpolated(environment: Record<string, string> | undefined, shell: Record<string, string> = {}) {
  return Object.fromEntries(
    Object.entries(environment ?? {}).map(([name, value]) => [
      name,
      String(value).replace(
        /\$\{(\w+):-([^}]*)\}/g,
        (_, variable: string, fallback: string) => shell[variable] || fallback,
      ),
    ]),
  );
}
const seconds = (duration: string | undefined) => Number(duration?.match(/^(\d+)s$/)?.[1] ?? Number.NaN);

describe('deploy/compose.yaml', () => {
  it('runs Redis with AOF and noeviction', () => {
    const command = compose.services['redis']?.command?.join(' ') ?? '';
    expect(command).toMatch(/--appendonly yes/);
    expect(command).toMatch(/--maxmemory-policy noeviction/);
    expect(compose.services['redis']?.volumes?.some((volume) => volume.endsWith(':/data'))).toBe(true);
  });

  it('runs two gateways with a valid gateway config, each called back by its own name and given time to drain', () => {
    const gateways = built('gateway.Dockerfile');
    expect(gateways).toHaveLength(2);
    for (const [name, service] of gateways) {
      // The image sets DFLEET_HOST=0.0.0.0: the config must still start (keys, or an explicit auth off).
      const config = loadGatewayConfig({ DFLEET_HOST: '0.0.0.0', ...interpolated(service.environment) });
      expect(config.callbackHost).toBe(name);
      expect(service.environment?.['REDIS_URL']).toBe('redis://redis:6379');
      expect(seconds(service.stop_grace_period) * 1_000, name).toBeGreaterThanOrEqual(
        config.shutdownTimeoutMs + GATEWAY_FORCED_EXIT_MARGIN_MS,
      );
    }
  });

  it('gives both gateways the webhook secret and admin key of the shell compose runs in, and leaves both off without', () => {
    const shell = {
      DFLEET_WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 9).toString('base64')}`,
      DFLEET_ADMIN_KEY: 'k'.repeat(48),
    };
    for (const [name, service] of built('gateway.Dockerfile')) {
      const off = loadGatewayConfig({ DFLEET_HOST: '0.0.0.0', ...interpolated(service.environment) });
      expect([off.webhooks, off.adminKey], name).toEqual([null, null]);
      const on = loadGatewayConfig({ DFLEET_HOST: '0.0.0.0', ...interpolated(service.environment, shell) });
      expect(on.webhooks, name).not.toBeNull();
      expect(on.adminKey, name).toBe(shell.DFLEET_ADMIN_KEY);
    }
  });

  it('runs one worker per GPU, each reserving its own NVIDIA device, with a valid worker config', () => {
    const gpuWorkers = built('worker.Dockerfile').filter(([, service]) => service.build?.target === 'cuda');
    expect(gpuWorkers.length).toBeGreaterThanOrEqual(2);
    const deviceIds = gpuWorkers.map(([name, service]) => {
      const devices = service.deploy?.resources?.reservations?.devices ?? [];
      expect(devices, name).toHaveLength(1);
      expect(devices[0]).toMatchObject({ driver: 'nvidia', capabilities: ['gpu'] });
      expect(devices[0]?.device_ids, name).toHaveLength(1);
      // A container sees only its reserved GPU, as device 0.
      expect(loadWorkerConfig(service.environment).device).toBe('cuda:0');
      return devices[0]?.device_ids[0];
    });
    expect(new Set(deviceIds).size).toBe(gpuWorkers.length);
  });

  it('gives every worker a stop grace period no shorter than its drain plus the forced-exit margin', () => {
    const workers = built('worker.Dockerfile');
    expect(workers.length).toBeGreaterThan(0);
    for (const [name, service] of workers) {
      const config = loadWorkerConfig(service.environment);
      expect(seconds(service.stop_grace_period) * 1_000, name).toBeGreaterThanOrEqual(
        config.shutdownTimeoutMs + config.forcedExitMarginMs,
      );
    }
  });

  it('builds only stages that exist, and keeps Prometheus and the OTel collector optional (profiles)', () => {
    const workerStages = dockerfile('worker.Dockerfile').stages.map((stage) => stage.name);
    for (const [name, service] of built('worker.Dockerfile'))
      expect(workerStages, name).toContain(service.build?.target);
    expect(compose.services['prometheus']?.profiles).toEqual(['observability']);
    expect(compose.services['otel-collector']?.profiles).toEqual(['observability']);
  });

  it("has Prometheus scrape every gateway's and every worker's /metrics", () => {
    const prometheus = parse(readFileSync(`${DEPLOY}prometheus/prometheus.yml`, 'utf8')) as {
      scrape_configs: { job_name: string; metrics_path: string; static_configs: { targets: string[] }[] }[];
    };
    const targetsOf = (jobName: string) => {
      const job = prometheus.scrape_configs.find((config) => config.job_name === jobName);
      expect(job?.metrics_path, jobName).toBe('/metrics');
      return job?.static_configs.flatMap((c) => c.targets).sort();
    };
    expect(targetsOf('dfleet-gateway')).toEqual(built('gateway.Dockerfile').map(([name]) => `${name}:8080`));
    // The worker image's DFLEET_PROBE_PORT: its probe server serves /metrics too.
    expect(targetsOf('dfleet-worker')).toEqual(
      built('worker.Dockerfile')
        .map(([name]) => `${name}:9090`)
        .sort(),
    );
  });
});
