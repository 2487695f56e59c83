/** A prefix cache asked of a denoiser that keeps none. */
export class PrefixCacheUnsupportedError extends Error {
  readonly code = 'prefix_cache_unsupported';
  constructor() {
    super(
      "the step scheduler was given prefixCache, but its denoiser keeps no prefix caches: load the model's prefix-cache form " +
        '(a model directory whose manifest declares prefixCache, loaded with { prefixCache: true }), or leave prefixCache out',
    );
    this.name = 'PrefixCacheUnsupportedError';
  }
}

/** A decode submitted after `close()`. */
export class SchedulerClosedError extends Error {
  readonly code = 'scheduler_closed';
  constructor() {
    super('the step scheduler is closed; no new decodes are accepted');
    this.name = 'SchedulerClosedError';
  }
}
