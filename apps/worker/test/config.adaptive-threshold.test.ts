import { describe, expect, it } from 'vitest';
import { EnvConfigError } from '@dfleet/env-config';
import { loadWorkerConfig } from '../src/config.ts';

describe('worker configuration of load-adaptive thresholds', () => {
  it('is off unless DFLEET_ADAPTIVE_THRESHOLD=on', () => {
    expect(loadWorkerConfig({}).adaptiveThreshold).toBeNull();
    expect(
      loadWorkerConfig({ DFLEET_ADAPTIVE_THRESHOLD: 'off', DFLEET_ADAPTIVE_TARGET_WAIT_MS: '50' }).adaptiveThreshold,
    ).toBeNull();
  });

  it('takes the target queue wait when on, 500 ms by default', () => {
    expect(loadWorkerConfig({ DFLEET_ADAPTIVE_THRESHOLD: 'on' }).adaptiveThreshold).toEqual({ targetWaitMs: 500 });
    expect(
      loadWorkerConfig({ DFLEET_ADAPTIVE_THRESHOLD: 'on', DFLEET_ADAPTIVE_TARGET_WAIT_MS: '2000' }).adaptiveThreshold,
    ).toEqual({
      targetWaitMs: 2000,
    });
  });

  it('names a wrong value', () => {
    expect(() => loadWorkerConfig({ DFLEET_ADAPTIVE_THRESHOLD: 'yes' })).toThrow(EnvConfigError);
    expect(() => loadWorkerConfig({ DFLEET_ADAPTIVE_THRESHOLD: 'yes' })).toThrow(/DFLEET_ADAPTIVE_THRESHOLD/);
    expect(() => loadWorkerConfig({ DFLEET_ADAPTIVE_TARGET_WAIT_MS: '0' })).toThrow(/DFLEET_ADAPTIVE_TARGET_WAIT_MS/);
  });
});
