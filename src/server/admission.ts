/**
 * Admission, after validation and before storage, as kube-apiserver's plugins do it (reference
 * §3.6): CertificateApproval (`approve` on the signer to change Approved/Denied),
 * CertificateSigning (`sign` on the signer to set a certificate or Failed), CertificateSubject-
 * Restriction (no `system:masters` from the generic client signer), NodeRestriction (a node asks
 * only for its own name, and writes only its own Node: src/server/node-restriction.ts), the node-name identity rule (src/api/identity.ts) for kubelet signers, and a check that bootstrap-token Secrets are well-formed, because
 * authentication trusts their fields; RBAC escalation prevention (src/server/rbac-escalation.ts).
 * Also the SubjectAccessReview endpoints.
 */

import { CERTIFICATE_REVOCATIONS, TLSBOOT_GROUP } from '../api/cluster-client.ts';
import {
  BOOTSTRAP_TOKEN_SECRET_TYPE,
  csrCertificatePem,
  csrConditions,
  type NodeNameContext,
  nodeNameProblem,
  nodeOfUser,
  PRIVILEGED_GROUPS,
  parseCsrRequestField,
  requestedNodeName,
  SIGNER_KUBE_APISERVER_CLIENT,
  SIGNER_KUBELET_CLIENT,
  SIGNER_KUBELET_SERVING,
  tokenSecretProblem,
  type UserInfo,
  warmCsrRequestField,
} from '../api/index.ts';
import { asRevocation, type RevokedCertificateFacts } from '../api/revocation.ts';
import { BadRequestError, ForbiddenError, InternalError, InvalidError } from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import { type CertificateRequest, commonName, organizations } from '../pki/index.ts';
import { type Authorizer, forbiddenMessage } from './authz.ts';
import { admitNodeWrite } from './node-restriction.ts';
import { admitRbacWrite } from './rbac-escalation.ts';
import type { ResourceDef, VirtualResource } from './registry.ts';
import type { Admission } from './rest.ts';

function decisions(obj: JsonObject | undefined): string {
  if (!obj) return '';
  return JSON.stringify(csrConditions(obj).filter((c) => c.type === 'Approved' || c.type === 'Denied'));
}

function signingState(obj: JsonObject | undefined): string {
  if (!obj) return '';
  return JSON.stringify([csrCertificatePem(obj) ?? '', csrConditions(obj).filter((c) => c.type !== 'Approved' && c.type !== 'Denied')]);
}

/** What revocation admission reads: the issued-certificates inventory, the time, and where revocations are audited. */
export interface RevocationAdmission {
  /** The facts of the certificate tlsboot issued with this serial, or undefined when it issued none. */
  issued(serial: string): Promise<RevokedCertificateFacts | undefined>;
  readonly now: () => Date;
  /** Called once a revocation is stored, with who made it. */
  revoked(revocation: JsonObject, user: UserInfo): void;
}

function isRevocations(def: ResourceDef): boolean {
  return def.group === TLSBOOT_GROUP && def.resource === CERTIFICATE_REVOCATIONS.resource;
}

export class ControlPlaneAdmission implements Admission {
  private readonly authorizer: Authorizer;
  private readonly nodeNames: () => NodeNameContext;
  private readonly parseCsr: ((der: Uint8Array) => Promise<CertificateRequest> | undefined) | undefined;
  private readonly revocations: RevocationAdmission | undefined;

  /**
   * `parseCsr`, when given, parses new CSRs off the main thread (a crypto pool; undefined when it
   * is not ready) before validation reads them; without `revocations` no revocation is admitted.
   */
  constructor(
    authorizer: Authorizer,
    nodeNames: () => NodeNameContext,
    parseCsr?: (der: Uint8Array) => Promise<CertificateRequest> | undefined,
    revocations?: RevocationAdmission,
  ) {
    this.authorizer = authorizer;
    this.nodeNames = nodeNames;
    this.parseCsr = parseCsr;
    this.revocations = revocations;
  }

  afterCreate(p: { def: ResourceDef; stored: JsonObject; user: UserInfo }): void {
    if (isRevocations(p.def)) this.revocations?.revoked(p.stored, p.user);
  }

  /**
   * A revocation names a certificate this cluster's signer issued and that has not expired; the
   * certificate's facts (holder, CSR, signer, expiry) are copied from the inventory, so that the
   * API server, the CRLs and pruning need not read it again. Revoking twice is AlreadyExists
   * (the name is the serial).
   */
  private async admitRevocation(obj: JsonObject): Promise<void> {
    if (this.revocations === undefined)
      throw new InternalError('REVOCATION', 'this server admits no revocations: it has no certificate inventory');
    const serial = isObject(obj.metadata) ? String(obj.metadata.name ?? '') : '';
    const facts = await this.revocations.issued(serial);
    if (facts === undefined) {
      throw new InvalidError(
        'REVOCATION',
        `metadata.name: this cluster's signer issued no certificate with serial ${serial} (issuedcertificates.tlsboot.io holds none)`,
        { field: 'metadata.name' },
      );
    }
    const now = this.revocations.now();
    if (Date.parse(facts.notAfter) <= now.getTime()) {
      throw new InvalidError(
        'REVOCATION',
        `metadata.name: the certificate with serial ${serial} (${facts.commonName}) expired at ${facts.notAfter}; an expired certificate is refused already`,
        { field: 'metadata.name' },
      );
    }
    Object.assign(obj, facts);
    if (asRevocation(obj) === undefined) throw new InternalError('REVOCATION', `the revocation of ${serial} is incomplete`);
  }

  /**
   * Revocation is permanent (RFC 5280's certificateHold is refused for that reason): a revocation
   * leaves only once its certificate has expired (the controllers prune it then), or deleting it
   * would make a revoked certificate good again.
   */
  async admitDelete(p: { def: ResourceDef; current: () => Promise<JsonObject> }): Promise<void> {
    if (!isRevocations(p.def)) return;
    const current = await p.current();
    const notAfter = typeof current.notAfter === 'string' ? Date.parse(current.notAfter) : Number.NaN;
    // Without the revocation clock (a server that admits no revocations) nothing is known to have expired.
    const now = this.revocations?.now().getTime() ?? Number.NEGATIVE_INFINITY;
    if (!(notAfter <= now)) {
      const name = isObject(current.metadata) ? String(current.metadata.name ?? '') : '';
      throw new ForbiddenError(
        'REVOCATION_PERMANENT',
        `certificaterevocations.tlsboot.io "${name}" is forbidden: a revocation is permanent; it is removed after its certificate expires (${String(current.notAfter ?? 'unknown')})`,
      );
    }
  }

  async beforeCreate(p: { def: ResourceDef; obj: JsonObject }): Promise<void> {
    if (this.parseCsr === undefined || p.def.resource !== 'certificatesigningrequests' || !isObject(p.obj.spec)) return;
    await warmCsrRequestField(p.obj.spec.request, this.parseCsr);
  }

  /** `verb` on `signers` named exactly, or `<domain>/*` (reference §3.6). */
  private mayUseSigner(user: UserInfo, verb: 'approve' | 'sign', signerName: string): boolean {
    const domain = signerName.split('/')[0] ?? '';
    return [signerName, `${domain}/*`].some(
      (name) => this.authorizer.authorize({ user, verb, apiGroup: 'certificates.k8s.io', resource: 'signers', name }).allowed,
    );
  }

  async admit(p: { def: ResourceDef; subresource: string; old: JsonObject | undefined; obj: JsonObject; user: UserInfo }): Promise<void> {
    if (p.def.resource === 'certificatesigningrequests') return this.admitCsr(p);
    if (isRevocations(p.def) && p.old === undefined) return this.admitRevocation(p.obj);
    if (p.def.group === '' && p.def.resource === 'nodes') return admitNodeWrite(p.user, p.old, p.obj);
    if (p.def.resource === 'secrets' && p.obj.type === BOOTSTRAP_TOKEN_SECRET_TYPE) return this.admitTokenSecret(p.obj);
    if (p.def.group === 'rbac.authorization.k8s.io')
      return admitRbacWrite(this.authorizer, { resource: p.def.resource, obj: p.obj, user: p.user });
  }

  private admitCsr(p: { subresource: string; old: JsonObject | undefined; obj: JsonObject; user: UserInfo }): void {
    const spec = isObject(p.obj.spec) ? p.obj.spec : {};
    const signerName = String(spec.signerName ?? '');
    if (p.old === undefined) {
      const csr = parseCsrRequestField(spec.request);
      const privileged = organizations(csr.subject).find((o) => PRIVILEGED_GROUPS.includes(o));
      if (signerName === SIGNER_KUBE_APISERVER_CLIENT && privileged !== undefined) {
        throw new ForbiddenError('ADMISSION', `use of ${signerName} signer with ${privileged} group is not allowed`);
      }
      if (signerName === SIGNER_KUBELET_SERVING || signerName === SIGNER_KUBELET_CLIENT) {
        const requested = requestedNodeName(csr);
        const firstTime = p.user.name !== commonName(csr.subject);
        const problem = requested === undefined ? undefined : nodeNameProblem(requested, this.nodeNames(), firstTime);
        if (problem !== undefined) throw new InvalidError('NODE_NAME', `spec.request: ${problem}`, { field: 'spec.request' });
      }
      const node = nodeOfUser(p.user);
      if (node !== undefined && (signerName === SIGNER_KUBELET_SERVING || signerName === SIGNER_KUBELET_CLIENT)) {
        if (commonName(csr.subject) !== p.user.name) {
          throw new ForbiddenError(
            'ADMISSION',
            `node "${node}" is not allowed to request a certificate for "${commonName(csr.subject) ?? ''}"`,
          );
        }
      }
      return;
    }
    if (p.subresource === 'approval' && decisions(p.old) !== decisions(p.obj) && !this.mayUseSigner(p.user, 'approve', signerName)) {
      throw new ForbiddenError('ADMISSION', `user not permitted to approve requests with signerName "${signerName}"`);
    }
    if (p.subresource === 'status' && signingState(p.old) !== signingState(p.obj) && !this.mayUseSigner(p.user, 'sign', signerName)) {
      throw new ForbiddenError('ADMISSION', `user not permitted to sign requests with signerName "${signerName}"`);
    }
  }

  private admitTokenSecret(secret: JsonObject): void {
    const problem = tokenSecretProblem(secret);
    if (problem !== undefined) throw new InvalidError('TOKEN_SECRET', `${problem.field}: ${problem.message}`, { field: problem.field });
  }
}

function attributesFrom(spec: JsonObject, user: UserInfo) {
  const ra = isObject(spec.resourceAttributes) ? spec.resourceAttributes : undefined;
  const nra = isObject(spec.nonResourceAttributes) ? spec.nonResourceAttributes : undefined;
  if (ra) {
    return {
      user,
      verb: String(ra.verb ?? ''),
      apiGroup: String(ra.group ?? ''),
      resource: String(ra.resource ?? ''),
      subresource: String(ra.subresource ?? ''),
      name: String(ra.name ?? ''),
      namespace: String(ra.namespace ?? ''),
    };
  }
  if (nra) return { user, verb: String(nra.verb ?? ''), nonResourceURL: String(nra.path ?? '') };
  throw new InvalidError('ACCESS_REVIEW', 'spec: exactly one of resourceAttributes or nonResourceAttributes must be set', {
    field: 'spec',
  });
}

function stringArray(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** The user a SubjectAccessReview or LocalSubjectAccessReview asks about. */
function subjectOf(spec: JsonObject): UserInfo {
  if (typeof spec.user !== 'string' || spec.user === '') {
    throw new InvalidError('ACCESS_REVIEW', 'spec.user: Required value', { field: 'spec.user' });
  }
  const extra = isObject(spec.extra)
    ? (Object.fromEntries(Object.entries(spec.extra).map(([k, v]) => [k, stringArray(v)])) as Record<string, string[]>)
    : undefined;
  return {
    name: spec.user,
    groups: stringArray(spec.groups),
    ...(typeof spec.uid === 'string' ? { uid: spec.uid } : {}),
    ...(extra ? { extra } : {}),
  };
}

/**
 * The review APIs, all create-only and never stored: `authorization.k8s.io/v1` SubjectAccessReview,
 * LocalSubjectAccessReview, SelfSubjectAccessReview and SelfSubjectRulesReview, and
 * `authentication.k8s.io/v1` SelfSubjectReview (the requester as authenticated, after impersonation).
 */
export function accessReviewHandlers(authorizer: Authorizer): Map<string, VirtualResource> {
  const review = (kind: string, spec: JsonObject, subject: UserInfo): JsonObject => {
    const attributes = attributesFrom(spec, subject);
    const decision = authorizer.authorize(attributes);
    return {
      apiVersion: 'authorization.k8s.io/v1',
      kind,
      metadata: {},
      spec,
      status: { allowed: decision.allowed, ...(decision.allowed ? { reason: decision.reason } : { reason: forbiddenMessage(attributes) }) },
    };
  };
  return new Map([
    [
      'authorization.k8s.io/localsubjectaccessreviews',
      {
        create: async (body: unknown, _user: UserInfo, namespace: string) => {
          const spec = isObject(body) && isObject(body.spec) ? body.spec : {};
          if (spec.nonResourceAttributes !== undefined && spec.nonResourceAttributes !== null) {
            throw new InvalidError('ACCESS_REVIEW', 'spec.nonResourceAttributes: Invalid value: disallowed on this kind of request', {
              field: 'spec.nonResourceAttributes',
            });
          }
          const subject = subjectOf(spec);
          // kube-apiserver's rule: the question is about the namespace the review was posted in.
          const asked = isObject(spec.resourceAttributes) ? spec.resourceAttributes.namespace : undefined;
          if (asked !== namespace) {
            throw new BadRequestError('ACCESS_REVIEW', `spec.resourceAttributes.namespace must match namespace: ${namespace}`);
          }
          const answer = review('LocalSubjectAccessReview', spec, subject);
          return { ...answer, metadata: { namespace, creationTimestamp: null } };
        },
      },
    ],
    [
      'authorization.k8s.io/selfsubjectrulesreviews',
      {
        create: async (body: unknown, user: UserInfo) => {
          const spec = isObject(body) && isObject(body.spec) ? body.spec : {};
          const namespace = typeof spec.namespace === 'string' ? spec.namespace : '';
          if (namespace === '') throw new BadRequestError('RULES_REVIEW', 'no namespace on request');
          const rules = authorizer.rulesFor?.(user, namespace);
          return {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SelfSubjectRulesReview',
            metadata: { creationTimestamp: null },
            spec: { namespace },
            status: { resourceRules: rules?.resource ?? [], nonResourceRules: rules?.nonResource ?? [], incomplete: rules === undefined },
          };
        },
      },
    ],
    [
      'authentication.k8s.io/selfsubjectreviews',
      {
        create: async (_body: unknown, user: UserInfo) => ({
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'SelfSubjectReview',
          metadata: { creationTimestamp: null },
          status: {
            userInfo: {
              username: user.name,
              ...(user.uid ? { uid: user.uid } : {}),
              groups: [...user.groups],
              ...(user.extra && Object.keys(user.extra).length > 0 ? { extra: user.extra } : {}),
            },
          },
        }),
      },
    ],
    [
      'authorization.k8s.io/subjectaccessreviews',
      {
        create: async (body: unknown) => {
          const spec = isObject(body) && isObject(body.spec) ? body.spec : {};
          return review('SubjectAccessReview', spec, subjectOf(spec));
        },
      },
    ],
    [
      'authorization.k8s.io/selfsubjectaccessreviews',
      {
        create: async (body: unknown, user: UserInfo) =>
          review('SelfSubjectAccessReview', isObject(body) && isObject(body.spec) ? body.spec : {}, user),
      },
    ],
  ]);
}
