import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath, type ServingStatus } from 'grpc-health-check';
import type { Logger } from 'pino';
import { type grpc, loadPublicApiDefinition } from '@dfleet/proto';

/** The services health answers for: the server as a whole ("") and the public API. */
const HEALTH_SERVICES = ['', 'dfleet.v1.GenerationService'] as const;

export interface GrpcHealthOptions {
  /** Throws when Redis does not answer (in time). */
  ping(): Promise<void>;
  /**
   * How often Redis is pinged for the status `Check` and `Watch` answer with.
   * @defaultValue 1000
   */
  intervalMs?: number;
  logger: Logger;
}

/**
 * grpc.health.v1 for the public gRPC port: SERVING while Redis answers (requests can be enqueued),
 * NOT_SERVING while it does not and from the start of a shutdown on, so a load balancer or
 * Kubernetes' gRPC probe moves traffic away. A reading is at most `intervalMs` old.
 */
export class GrpcHealth {
  readonly #health = new HealthImplementation(
    Object.fromEntries(HEALTH_SERVICES.map((service) => [service, 'NOT_SERVING' as ServingStatus])),
  );
  readonly #options: GrpcHealthOptions;
  readonly #timer: NodeJS.Timeout;
  #draining = false;
  #checking = false;
  #last: ServingStatus = 'NOT_SERVING';

  constructor(options: GrpcHealthOptions) {
    this.#options = options;
    this.#timer = setInterval(() => void this.#check(), options.intervalMs ?? 1_000);
    this.#timer.unref();
    void this.#check();
  }

  addToServer(server: grpc.Server): void {
    this.#health.addToServer(server);
  }

  /** From now on NOT_SERVING, whatever Redis says: the gateway is shutting down. */
  drain(): void {
    this.#draining = true;
    this.#set('NOT_SERVING');
  }

  close(): void {
    clearInterval(this.#timer);
  }

  async #check(): Promise<void> {
    if (this.#checking || this.#draining) return;
    this.#checking = true;
    try {
      await this.#options.ping();
      if (!this.#draining) this.#set('SERVING');
    } catch (error) {
      if (this.#last === 'SERVING')
        this.#options.logger.warn({ err: (error as Error).message }, 'gRPC health: NOT_SERVING');
      this.#set('NOT_SERVING');
    } finally {
      this.#checking = false;
    }
  }

  #set(status: ServingStatus): void {
    this.#last = status;
    for (const service of HEALTH_SERVICES) this.#health.setStatus(service, status);
  }
}

/** Server reflection (v1 and v1alpha) listing the public API and grpc.health.v1.Health, so grpcurl needs no .proto files. */
export function addServerReflection(server: grpc.Server): void {
  new ReflectionService(loadPublicApiDefinition([healthProtoPath])).addToServer(server);
}
