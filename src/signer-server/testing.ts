/**
 * Test fixture (used only by tests): the options of a remote signer for a test CA on a loopback
 * port, with nothing denied or extra, a day's maximum lifetime and the real clock, each of which a
 * test may override.
 */

import type { KeyObject } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import type { Certificate } from '../pki/index.ts';
import type { RemoteSignerOptions } from './remote-signer-server.ts';

export function testRemoteSignerOptions(
  ca: { readonly certificate: Certificate; readonly key: KeyObject },
  stateDir: string,
  overrides: Partial<RemoteSignerOptions> = {},
): RemoteSignerOptions {
  return {
    caCertificate: ca.certificate,
    caKey: ca.key,
    stateDir,
    host: '127.0.0.1',
    port: 0,
    sans: [],
    deniedSans: [],
    maxTtlMs: 24 * 3_600_000,
    now: () => new Date(),
    randomBytes,
    ...overrides,
  };
}
