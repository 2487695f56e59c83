import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';

const K8S_DIR = fileURLToPath(new URL('../../../deploy/k8s/', import.meta.url));

/** The overlays under deploy/k8s/overlays, each a kustomization of the base. */
export const OVERLAYS = ['dev', 'gpu'] as const;
export type Overlay = (typeof OVERLAYS)[number];

/** One rendered object, with the fields every object has. */
export interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: a rendered manifest is read field by field; the schema validation vouches for its shape.
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/** The schema of every apiVersion/kind the manifests use: Kubernetes' own, and KEDA's CRD. */
const SCHEMAS: Record<string, { validate(object: RenderedObject): void }> = {
  'v1/Namespace': { validate: (o) => new Namespace(o as never).validate() },
  'v1/ConfigMap': { validate: (o) => new ConfigMap(o as never).validate() },
  'v1/Secret': { validate: (o) => new Secret(o as never).validate() },
  'v1/Service': { validate: (o) => new Service(o as never).validate() },
  'apps/v1/Deployment': { validate: (o) => new Deployment(o as never).validate() },
  'apps/v1/StatefulSet': { validate: (o) => new StatefulSet(o as never).validate() },
  'policy/v1/PodDisruptionBudget': { validate: (o) => new PodDisruptionBudget(o as never).validate() },
  'autoscaling/v2/HorizontalPodAutoscaler': { validate: (o) => new HorizontalPodAutoscaler(o as never).validate() },
  'keda.sh/v1alpha1/ScaledObject': { validate: (o) => new ScaledObject(o as never).validate() },
};

/** `kubectl kustomize` of one overlay, parsed (kubectl's bundled kustomize; no cluster needed). */
export async function renderOverlay(overlay: Overlay): Promise<RenderedObject[]> {
  const { stdout } = await promisify(execFile)('kubectl', ['kustomize', `${K8S_DIR}overlays/${overlay}`], {
    maxBuffer: 16 * 1024 * 1024,
  }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
    throw new Error('kubectl is not installed: the manifests are rendered with `kubectl kustomize` (kubectl >= 1.14)', {
      cause: error,
    });
  });
  return parseAllDocuments(stdout).map((document) => {
    if (document.errors.length > 0) throw new Error(`${overlay}: ${document.errors[0]?.message}`);
    return document.toJS() as RenderedObject;
  });
}

/**
 * Validates an object against its JSON schema; throws naming the object and what is wrong,
 * also for a kind no schema here covers (so a new kind cannot slip in unchecked).
 */
export function validateObject(object: RenderedObject): void {
  const schema = SCHEMAS[`${object.apiVersion}/${object.kind}`];
  const name = `${object.kind} ${object.metadata?.name}`;
  if (schema === undefined) throw new Error(`${name}: no schema for ${object.apiVersion} ${object.kind}`);
  try {
    schema.validate(object);
  } catch (error) {
    throw new Error(`${name}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
