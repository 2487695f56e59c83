import { beforeAll, describe, expect, it } from 'vitest';
import { parseApiKeysFile } from '@dfleet/api-keys';
import { GATEWAY_FORCED_EXIT_MARGIN_MS, loadGatewayConfig } from '@dfleet/gateway';
import { GATEWAY_METRICS, seriesNamesOf } from '@dfleet/telemetry';
import { loadWorkerConfig } from '@dfleet/worker';
import { seriesSelectedBy } from '../src/promql-series.ts';
import { OVERLAYS, renderOverlay, validateObject, type Overlay, type RenderedObject } from '../src/kustomize-render.ts';

const WAITING_REQUESTS_METRIC = GATEWAY_METRICS.requestsWaiting.name;

const rendered = {} as Record<Overlay, RenderedObject[]>;

beforeAll(async () => {
  for (const overlay of OVERLAYS) rendered[overlay] = await renderOverlay(overlay);
});

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; fieldRef?: { fieldPath: string } };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  volumeMounts?: { name: string; mountPath: string }[];
}

const objectsOf = (overlay: Overlay, kind: string) => rendered[overlay].filter((object) => object.kind === kind);
const isRendered = (overlay: Overlay, kind: string, name: string) =>
  objectsOf(overlay, kind).some((object) => object.metadata.name === name);
function one(overlay: Overlay, kind: string, name: string): RenderedObject {
  const found = objectsOf(overlay, kind).filter((object) => object.metadata.name === name);
  expect(found, `${overlay}: ${kind} ${name}`).toHaveLength(1);
  return found[0] as RenderedObject;
}
const deploymentOf = (overlay: Overlay, component: 'gateway' | 'worker') =>
  one(overlay, 'Deployment', `dfleet-${component}`);
const containerOf = (deployment: RenderedObject) => deployment.spec.template.spec.containers[0] as Container;

/** Sample values the kubelet would fill in for the downward API. */
const FIELD_VALUES: Record<string, string> = {
  'status.podIP': '10.1.2.3',
  'metadata.name': 'dfleet-worker-7d9f-abcde',
};

/**
 * The container's environment as the kubelet builds it: envFrom ConfigMaps, then env (Secrets and
 * fields resolved). `created` stands for Secrets an operator made beside the manifests; an
 * optional reference to a Secret that is in neither leaves its variable unset.
 */
function containerEnv(
  overlay: Overlay,
  container: Container,
  created: Record<string, Record<string, string>> = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    const name = source.configMapRef?.name;
    if (name !== undefined) Object.assign(env, one(overlay, 'ConfigMap', name).data);
  }
  for (const variable of container.env ?? []) {
    const { secretKeyRef, fieldRef } = variable.valueFrom ?? {};
    if (secretKeyRef?.optional && !isRendered(overlay, 'Secret', secretKeyRef.name)) {
      const value = created[secretKeyRef.name]?.[secretKeyRef.key];
      if (value !== undefined) env[variable.name] = value;
    } else if (secretKeyRef) {
      const secret = one(overlay, 'Secret', secretKeyRef.name);
      const value = secret.stringData?.[secretKeyRef.key];
      expect(value, `${secretKeyRef.name}.${secretKeyRef.key}`).toBeDefined();
      env[variable.name] = value ?? '';
    } else if (fieldRef) {
      const value = FIELD_VALUES[fieldRef.fieldPath];
      expect(value, `fieldRef ${fieldRef.fieldPath}`).toBeDefined();
      env[variable.name] = value ?? '';
    } else {
      env[variable.name] = variable.value ?? '';
    }
  }
  return env;
}

const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);

describe.each(OVERLAYS)('deploy/k8s overlays/%s, rendered with kubectl kustomize', (overlay) => {
  it('validates every object against the Kubernetes (and KEDA) schemas', () => {
    expect(rendered[overlay].length).toBeGreaterThan(0);
    for (const object of rendered[overlay]) validateObject(object);
    expect(new Set(rendered[overlay].map((o) => o.metadata.namespace ?? o.metadata.name))).toEqual(new Set(['dfleet']));
  });

  it.each(['gateway', 'worker'] as const)(
    'gives the %s startup, readiness and liveness probes on ports the container declares',
    (component) => {
      const container = containerOf(deploymentOf(overlay, component));
      const portNames = new Set((container.ports ?? []).map((port) => port.name));
      for (const probe of [container.startupProbe, container.readinessProbe, container.livenessProbe]) {
        expect(probe?.httpGet?.path).toMatch(/^\/(healthz|readyz)$/);
        expect(portNames).toContain(probe?.httpGet?.port);
      }
    },
  );

  it('gives the worker a valid config whose probe port is the one probed, and a grace period no shorter than its drain', () => {
    const deployment = deploymentOf(overlay, 'worker');
    const container = containerOf(deployment);
    const config = loadWorkerConfig(containerEnv(overlay, container));
    const probePort = container.ports?.find((port) => port.name === container.livenessProbe?.httpGet?.port);
    expect(config.probe?.port).toBe(probePort?.containerPort);
    // Kubernetes SIGKILLs at the end of the grace period: the drain and the hand-back must fit in it.
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds * 1_000).toBeGreaterThanOrEqual(
      config.shutdownTimeoutMs + config.forcedExitMarginMs,
    );
  });

  it.each(['gateway', 'worker'] as const)(
    'has the %s scraped by annotation on the port that serves its /metrics',
    (component) => {
      const deployment = deploymentOf(overlay, component);
      const container = containerOf(deployment);
      const annotations = deployment.spec.template.metadata.annotations ?? {};
      expect(annotations['prometheus.io/scrape']).toBe('true');
      expect(annotations['prometheus.io/path']).toBe('/metrics');
      const env = containerEnv(overlay, container);
      const metricsPort = component === 'worker' ? loadWorkerConfig(env).probe?.port : loadGatewayConfig(env).httpPort;
      expect(Number(annotations['prometheus.io/port'])).toBe(metricsPort);
      expect((container.ports ?? []).map((port) => port.containerPort)).toContain(metricsPort);
    },
  );

  it('gives the gateway a valid config (keys from the mounted Secret, called back at its pod IP) and time to drain', () => {
    const deployment = deploymentOf(overlay, 'gateway');
    const container = containerOf(deployment);
    const config = loadGatewayConfig(containerEnv(overlay, container));
    expect(config.host).toBe('0.0.0.0');
    expect(config.callbackHost).toBe(FIELD_VALUES['status.podIP']);
    if (config.auth.kind !== 'api-keys') throw new Error('the gateway must run with API keys');
    const { keysFile } = config.auth;

    // The keys file is a key of the Secret mounted at its directory, and a valid keys file.
    const mount = container.volumeMounts?.find((m) => keysFile.startsWith(`${m.mountPath}/`));
    const volume = deployment.spec.template.spec.volumes.find((v: { name: string }) => v.name === mount?.name);
    const secret = one(overlay, 'Secret', volume?.secret?.secretName);
    const fileName = keysFile.slice((mount?.mountPath.length ?? 0) + 1);
    expect(() => parseApiKeysFile(secret.stringData?.[fileName] ?? '', keysFile)).not.toThrow();

    const preStopSeconds = Number(container.lifecycle?.preStop?.exec?.command.at(-1) ?? 0);
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds * 1_000).toBeGreaterThanOrEqual(
      preStopSeconds * 1_000 + config.shutdownTimeoutMs + GATEWAY_FORCED_EXIT_MARGIN_MS,
    );
  });

  it('turns webhooks and the queue dashboard on from an optional Secret the manifests leave to the operator', () => {
    const container = containerOf(deploymentOf(overlay, 'gateway'));
    // As applied: no such Secret, so the gateway starts with both off.
    const without = loadGatewayConfig(containerEnv(overlay, container));
    expect([without.webhooks, without.adminKey]).toEqual([null, null]);
    expect(isRendered(overlay, 'Secret', 'dfleet-gateway-secrets')).toBe(false);

    // Created as secrets.yaml says (one Secret, read by every gateway pod alike).
    const created = {
      'dfleet-gateway-secrets': {
        DFLEET_WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 7).toString('base64')}`,
        DFLEET_ADMIN_KEY: 'a'.repeat(48),
      },
    };
    const withSecret = loadGatewayConfig(containerEnv(overlay, container, created));
    expect(withSecret.webhooks).not.toBeNull();
    expect(withSecret.adminKey).toBe('a'.repeat(48));
  });

  it('scales the gateway with an HPA on its Deployment, and nothing else with one', () => {
    const gateway = deploymentOf(overlay, 'gateway');
    const hpas = objectsOf(overlay, 'HorizontalPodAutoscaler');
    expect(hpas.map((hpa) => hpa.spec.scaleTargetRef)).toEqual([
      { apiVersion: 'apps/v1', kind: 'Deployment', name: gateway.metadata.name },
    ]);
    // A replica count in the Deployment would fight the HPA on every apply.
    expect(gateway.spec.replicas).toBeUndefined();
    expect(containerOf(gateway).resources?.requests?.['cpu']).toBeDefined();
  });

  it('covers both Deployments with a PodDisruptionBudget, and the Service selects the gateway pods', () => {
    for (const component of ['gateway', 'worker'] as const) {
      const labels = deploymentOf(overlay, component).spec.template.metadata.labels;
      const budgets = objectsOf(overlay, 'PodDisruptionBudget').filter((pdb) =>
        matches(pdb.spec.selector.matchLabels, labels),
      );
      expect(budgets, component).toHaveLength(1);
    }
    const service = one(overlay, 'Service', 'dfleet-gateway');
    expect(matches(service.spec.selector, deploymentOf(overlay, 'gateway').spec.template.metadata.labels)).toBe(true);
    const portNames = (containerOf(deploymentOf(overlay, 'gateway')).ports ?? []).map((port) => port.name);
    for (const port of service.spec.ports) expect(portNames).toContain(port.targetPort);
  });

  it('runs every pod as a non-root user', () => {
    for (const kind of ['Deployment', 'StatefulSet']) {
      for (const object of objectsOf(overlay, kind)) {
        const security = object.spec.template.spec.securityContext;
        expect(security?.runAsNonRoot, object.metadata.name).toBe(true);
        expect(security?.runAsUser, object.metadata.name).toBeGreaterThan(0);
      }
    }
  });
});

describe('deploy/k8s overlays/gpu', () => {
  it('gives every worker pod exactly one NVIDIA GPU and the CUDA device', () => {
    const container = containerOf(deploymentOf('gpu', 'worker'));
    expect(container.resources?.limits?.['nvidia.com/gpu']).toBe(1);
    expect(loadWorkerConfig(containerEnv('gpu', container)).device).toBe('cuda:0');
    expect(containerOf(deploymentOf('gpu', 'gateway')).resources?.limits?.['nvidia.com/gpu']).toBeUndefined();
  });

  it("scales the workers with KEDA's prometheus trigger on the metrics the gateway exports", () => {
    const worker = deploymentOf('gpu', 'worker');
    const [scaledObject, ...others] = objectsOf('gpu', 'ScaledObject');
    expect(others).toEqual([]);
    expect(scaledObject?.spec.scaleTargetRef.name).toBe(worker.metadata.name);
    expect(worker.spec.replicas).toBeUndefined();

    const [trigger, ...moreTriggers] = scaledObject?.spec.triggers ?? [];
    expect(moreTriggers).toEqual([]);
    expect(trigger.type).toBe('prometheus');
    // Every series the query reads is one the gateway exports; the waiting jobs are among them.
    const metricNames = new Set(seriesSelectedBy(trigger.metadata.query as string));
    expect(metricNames).toContain(WAITING_REQUESTS_METRIC);
    const gatewaySeries = new Set(Object.values(GATEWAY_METRICS).flatMap(seriesNamesOf));
    expect([...metricNames].filter((name) => !gatewaySeries.has(name))).toEqual([]);
    // Each gateway reports the fleet-wide figure: summing over gateways would count it once per gateway.
    expect(trigger.metadata.query).toMatch(new RegExp(`max by \\(priority\\) \\(${WAITING_REQUESTS_METRIC}\\b`));
    // No series (Redis unreadable) must not read as an empty queue.
    expect(trigger.metadata.ignoreNullValues).toBe('false');
    // Demand per worker = one worker's regular slots.
    const config = loadWorkerConfig(containerEnv('gpu', containerOf(worker)));
    expect(Number(trigger.metadata.threshold)).toBe(config.maxActiveJobs);
  });
});

describe('deploy/k8s overlays/dev', () => {
  it('runs one CPU worker without KEDA, and a Redis with AOF and noeviction', () => {
    const worker = deploymentOf('dev', 'worker');
    expect(worker.spec.replicas).toBe(1);
    expect(objectsOf('dev', 'ScaledObject')).toEqual([]);
    const container = containerOf(worker);
    expect(loadWorkerConfig(containerEnv('dev', container)).device).toBe('cpu');
    expect(JSON.stringify(container.resources ?? {})).not.toContain('nvidia.com/gpu');

    const redis = one('dev', 'StatefulSet', 'dfleet-redis');
    const args = (redis.spec.template.spec.containers[0].args as string[]).join(' ');
    expect(args).toMatch(/--appendonly yes/);
    expect(args).toMatch(/--maxmemory-policy noeviction/);
    const redisUrl = new URL(containerEnv('dev', containerOf(deploymentOf('dev', 'gateway')))['REDIS_URL'] ?? '');
    expect(redisUrl.hostname).toBe(one('dev', 'Service', 'dfleet-redis').metadata.name);
  });
});
