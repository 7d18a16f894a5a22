/**
 * Chain checking against a CA bundle, at a given time: names chain, signatures verify, every
 * issuer is a CA allowed to sign certificates within its path length, every certificate is inside
 * its validity window and has no critical extension tlsboot does not process, and the leaf carries
 * the wanted extended key usage.
 */
import { InvalidError } from '../base/errors.ts';
import { type Certificate, verifyIssuedBy } from './certificate.ts';
import { isKnownExtension } from './extensions.ts';
import { formatName } from './name.ts';
import type { ExtKeyUsage } from './oids.ts';

export interface ChainParams {
  readonly leaf: Certificate;
  /** Trust anchors. */
  readonly roots: readonly Certificate[];
  readonly intermediates?: readonly Certificate[];
  readonly now: Date;
  /** Required extended key usage of the leaf, if any. */
  readonly usage?: ExtKeyUsage;
}

const MAX_CHAIN = 6;

function chainError(reason: string, message: string): InvalidError {
  return new InvalidError(`CHAIN_${reason}`, message);
}

function assertTimely(cert: Certificate, now: Date, what: string): void {
  if (now < cert.notBefore) throw chainError('NOT_YET_VALID', `${what} is not valid before ${cert.notBefore.toISOString()}`);
  if (now > cert.notAfter) throw chainError('EXPIRED', `${what} expired at ${cert.notAfter.toISOString()}`);
}

/** RFC 5280 §4.2: a certificate with a critical extension the verifier does not process must be rejected. */
function assertCriticalUnderstood(cert: Certificate, what: string): void {
  const unknown = cert.extensions.find((e) => e.critical && !isKnownExtension(e.oid));
  if (unknown) throw chainError('UNSUPPORTED_CRITICAL', `${what} has an unsupported critical extension ${unknown.oid}`);
}

function canSign(cert: Certificate): boolean {
  return cert.version === 3 && cert.basicConstraints?.ca === true && (cert.keyUsage === undefined || cert.keyUsage.includes('keyCertSign'));
}

/** Returns the chain from leaf to root, or throws INVALID with a `CHAIN_*` reason. */
export function verifyChain(params: ChainParams): Certificate[] {
  const { leaf, roots, now } = params;
  assertTimely(leaf, now, `certificate ${formatName(leaf.subject)}`);
  assertCriticalUnderstood(leaf, `certificate ${formatName(leaf.subject)}`);
  if (params.usage && leaf.extKeyUsage && !leaf.extKeyUsage.includes(params.usage) && !leaf.extKeyUsage.includes('any')) {
    throw chainError('USAGE', `certificate ${formatName(leaf.subject)} is not valid for ${params.usage}`);
  }
  const pool = [...roots, ...(params.intermediates ?? [])];
  const chain: Certificate[] = [leaf];
  let current = leaf;
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    if (roots.some((r) => Buffer.from(r.der).equals(current.der))) return chain;
    const candidates = pool.filter((c) => Buffer.from(c.subject.der).equals(current.issuer.der));
    const issuer = candidates.find((c) => verifyIssuedBy(current, c));
    if (!issuer) {
      const reason = candidates.length === 0 ? 'UNKNOWN_ISSUER' : 'BAD_SIGNATURE';
      const why = candidates.length === 0 ? 'no trusted issuer named' : 'signature does not verify under';
      throw chainError(reason, `certificate ${formatName(current.subject)}: ${why} ${formatName(current.issuer)}`);
    }
    // Back at a certificate already in the chain (an untrusted self-signed root): no trusted issuer.
    if (chain.includes(issuer)) throw chainError('UNKNOWN_ISSUER', `certificate ${formatName(current.subject)}: no trusted issuer`);
    if (!canSign(issuer))
      throw chainError('ISSUER_NOT_CA', `issuer ${formatName(issuer.subject)} is not a CA allowed to sign certificates`);
    // RFC 5280 §4.2.1.9: pathLenConstraint counts the intermediates below this issuer (chain minus the leaf).
    const pathLength = issuer.basicConstraints?.pathLength;
    if (pathLength !== undefined && chain.length - 1 > pathLength) {
      throw chainError('PATH_LENGTH', `issuer ${formatName(issuer.subject)} allows ${pathLength} intermediate(s) below it`);
    }
    assertTimely(issuer, now, `issuer ${formatName(issuer.subject)}`);
    assertCriticalUnderstood(issuer, `issuer ${formatName(issuer.subject)}`);
    chain.push(issuer);
    if (roots.includes(issuer)) return chain;
    current = issuer;
  }
  throw chainError('TOO_LONG', `chain is longer than ${MAX_CHAIN}`);
}
