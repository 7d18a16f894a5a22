/**
 * kubeadm's `upload-certs` and its counterpart in `join --control-plane`: the files every
 * control-plane node shares (the three CAs with their keys, the service-account key pair, and
 * tlsboot's secrets encryption key, without which a second server could not read the Secrets of
 * the first) go into Secret `kube-system/kubeadm-certs`, each entry sealed under the certificate
 * key; the Secret is owned by a short-lived bootstrap token with no usages, so it goes when the
 * token expires (2 h); Role and RoleBinding `kubeadm:kubeadm-certs` let the default node token
 * group get that one Secret. The objects are built here once, for both the API path
 * (`tlsboot certs upload`) and the store path (`tlsboot init --upload-certs --store`).
 */
import { BOOTSTRAP_TOKEN_NAMESPACE, bootstrapTokenSecret, generateToken, parseBootstrapToken } from '../api/core.ts';
import { InvalidError } from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import { decryptWithCertificateKey, encryptWithCertificateKey } from './certificate-key.ts';
import { pkiPath, readIfPresent, sealedKeyPath } from './pki-files.ts';
import { secretsKeyPath } from './secrets-key.ts';

export const KUBEADM_CERTS_SECRET = 'kubeadm-certs';
/** kubeadm's DefaultCertTokenDuration. */
export const CERT_TOKEN_TTL_MS = 2 * 3_600_000;
const CERT_TOKEN_DESCRIPTION = 'Proxy for managing TTL for the kubeadm-certs secret';
const DEFAULT_NODE_TOKEN_GROUP = 'system:bootstrappers:kubeadm:default-node-token';
const RBAC = 'rbac.authorization.k8s.io';
/** The Secret entry of tlsboot's own file (kubeadm has none: kube-apiserver's encryption config is not shared by it). */
export const SECRETS_KEY_ENTRY = 'secrets-encryption.key';

/** An entry of the Secret: kubeadm's name (the path under pki with `/` made `-`) and where it lives. */
interface SharedFile {
  readonly entry: string;
  readonly path: (dir: string) => string;
  readonly mode: number;
}

const KEY = 0o600;
const CERT = 0o644;

/** What travels, in kubeadm's order, plus tlsboot's secrets encryption key. */
export const SHARED_FILES: readonly SharedFile[] = [
  { entry: 'ca.crt', path: (d) => pkiPath(d, 'ca', 'crt'), mode: CERT },
  { entry: 'ca.key', path: (d) => pkiPath(d, 'ca', 'key'), mode: KEY },
  { entry: 'sa.key', path: (d) => pkiPath(d, 'sa', 'key'), mode: KEY },
  { entry: 'sa.pub', path: (d) => pkiPath(d, 'sa', 'pub'), mode: CERT },
  { entry: 'front-proxy-ca.crt', path: (d) => pkiPath(d, 'front-proxy-ca', 'crt'), mode: CERT },
  { entry: 'front-proxy-ca.key', path: (d) => pkiPath(d, 'front-proxy-ca', 'key'), mode: KEY },
  { entry: 'etcd-ca.crt', path: (d) => pkiPath(d, 'etcd/ca', 'crt'), mode: CERT },
  { entry: 'etcd-ca.key', path: (d) => pkiPath(d, 'etcd/ca', 'key'), mode: KEY },
  { entry: SECRETS_KEY_ENTRY, path: secretsKeyPath, mode: KEY },
];

/**
 * What travels when the cluster CA key is not on this machine: the sealed CA key, if that is where
 * it is (it opens only with the passphrase, during a signing session, but a joined server must be
 * able to lead and sign as the first one does), and the API server's etcd client credential, which
 * a joining node cannot make without the etcd CA key. The plaintext CA keys never travel then, and
 * a joining node gets its API-server certificate through a CSR (src/agent/control-plane-serving.ts).
 */
export const KEYLESS_FILES: readonly SharedFile[] = [
  { entry: 'ca.key.sealed', path: (d) => sealedKeyPath(d, 'ca'), mode: KEY },
  { entry: 'apiserver-etcd-client.crt', path: (d) => pkiPath(d, 'apiserver-etcd-client', 'crt'), mode: CERT },
  { entry: 'apiserver-etcd-client.key', path: (d) => pkiPath(d, 'apiserver-etcd-client', 'key'), mode: KEY },
];

/** The CA keys kubeadm shares; with a sealed or remote CA none of them is sent. */
const CA_KEY_ENTRIES: ReadonlySet<string> = new Set(['ca.key', 'front-proxy-ca.key', 'etcd-ca.key']);
const SEALED_CA_ENTRY = 'ca.key.sealed';

/**
 * Where the cluster CA key is, as the shared files say: here (kubeadm's case, and the joining
 * node makes its own certificates), sealed, or elsewhere (a remote signer or an external CA).
 */
export type CaKeyMode = 'local' | 'sealed' | 'remote';

export interface SharedFiles {
  readonly mode: CaKeyMode;
  /** Entry name -> content, in SHARED_FILES then KEYLESS_FILES order. */
  readonly files: Map<string, Buffer>;
}

/** Which entries a mode sends, each required. */
function entriesOf(mode: CaKeyMode): SharedFile[] {
  if (mode === 'local') return [...SHARED_FILES];
  return [
    ...SHARED_FILES.filter((f) => !CA_KEY_ENTRIES.has(f.entry)),
    ...KEYLESS_FILES.filter((f) => mode === 'sealed' || f.entry !== SEALED_CA_ENTRY),
  ];
}

/** The shared files of DIR for where its CA key is. @throws INVALID naming a missing file */
export function readSharedFiles(dir: string): SharedFiles {
  const mode: CaKeyMode = readIfPresent(pkiPath(dir, 'ca', 'key'))
    ? 'local'
    : readIfPresent(sealedKeyPath(dir, 'ca'))
      ? 'sealed'
      : 'remote';
  const files = new Map<string, Buffer>();
  for (const f of entriesOf(mode)) {
    const path = f.path(dir);
    const data = readIfPresent(path);
    if (data === undefined)
      throw new InvalidError('UPLOAD_FILE_MISSING', `${path} is missing; run tlsboot init --dir ${dir} first`, { field: path });
    files.set(f.entry, data);
  }
  return { mode, files };
}

/** kubeadm's short-lived token: TTL 2 h, no usages, no groups; it authenticates nobody and only carries the TTL. */
export function certsOwnerToken(now: Date, randomBytes: (size: number) => Uint8Array): JsonObject {
  return bootstrapTokenSecret({
    token: parseBootstrapToken(generateToken(randomBytes)),
    expiration: new Date(now.getTime() + CERT_TOKEN_TTL_MS),
    usages: [],
    groups: [],
    description: CERT_TOKEN_DESCRIPTION,
  });
}

/** Secret kube-system/kubeadm-certs: every shared file sealed under `key`, owned (as a controller) by `owner`. */
export function certsSecret(
  files: ReadonlyMap<string, Uint8Array>,
  key: Uint8Array,
  owner: { readonly name: string; readonly uid: string },
  randomBytes: (size: number) => Uint8Array,
): JsonObject {
  const data: Record<string, string> = {};
  for (const [entry, bytes] of files) data[entry] = encryptWithCertificateKey(bytes, key, randomBytes).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: KUBEADM_CERTS_SECRET,
      namespace: BOOTSTRAP_TOKEN_NAMESPACE,
      ownerReferences: [{ apiVersion: 'v1', kind: 'Secret', name: owner.name, uid: owner.uid, controller: true, blockOwnerDeletion: true }],
    },
    type: 'Opaque',
    data,
  };
}

export const CERTS_ROLE: JsonObject = {
  apiVersion: `${RBAC}/v1`,
  kind: 'Role',
  metadata: { name: 'kubeadm:kubeadm-certs', namespace: BOOTSTRAP_TOKEN_NAMESPACE },
  rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: [KUBEADM_CERTS_SECRET], verbs: ['get'] }],
};

export const CERTS_ROLE_BINDING: JsonObject = {
  apiVersion: `${RBAC}/v1`,
  kind: 'RoleBinding',
  metadata: { name: 'kubeadm:kubeadm-certs', namespace: BOOTSTRAP_TOKEN_NAMESPACE },
  roleRef: { apiGroup: RBAC, kind: 'Role', name: 'kubeadm:kubeadm-certs' },
  subjects: [{ kind: 'Group', apiGroup: RBAC, name: DEFAULT_NODE_TOKEN_GROUP }],
};

/**
 * The shared files out of a fetched kubeadm-certs Secret, each opened under `key`; an empty entry
 * (kubeadm's way of saying "absent") counts as absent, and an absent ca.key means the CA key is
 * sealed or remote. Nothing is written here.
 * @throws INVALID: CERTIFICATE_KEY_WRONG, or an entry missing
 */
export function openCertsSecret(secret: JsonObject, key: Uint8Array): SharedFiles {
  const data = isObject(secret.data) ? secret.data : {};
  const sealedOf = (entry: string) => {
    const value = data[entry];
    return typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.alloc(0);
  };
  const mode: CaKeyMode = sealedOf('ca.key').length > 0 ? 'local' : sealedOf(SEALED_CA_ENTRY).length > 0 ? 'sealed' : 'remote';
  const files = new Map<string, Buffer>();
  for (const f of entriesOf(mode)) {
    const sealed = sealedOf(f.entry);
    if (sealed.length === 0)
      throw new InvalidError(
        'UPLOAD_ENTRY_MISSING',
        `the ${KUBEADM_CERTS_SECRET} Secret has no "${f.entry}"; upload the certificates again`,
        {
          field: f.entry,
        },
      );
    files.set(f.entry, decryptWithCertificateKey(sealed, key, `the "${f.entry}" entry of ${KUBEADM_CERTS_SECRET}`));
  }
  return { mode, files };
}
