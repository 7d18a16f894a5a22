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
import { pkiPath, readIfPresent } from './pki-files.ts';
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

/** Joining control-plane nodes with a sealed or remote CA (the certificate through a CSR) is not built yet. */
function caKeyNotHere(where: string): InvalidError {
  return new InvalidError(
    'CA_KEY_NOT_HERE',
    `the CA key is not here (${where}): with a sealed or remote CA no CA key travels, and joining a control-plane node by a CSR signed under a session or grant is not supported yet`,
    { field: 'certificate-key' },
  );
}

/** The shared files of DIR, every one required. @throws INVALID naming a missing file; CA_KEY_NOT_HERE without pki/ca.key */
export function readSharedFiles(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const f of SHARED_FILES) {
    const path = f.path(dir);
    const data = readIfPresent(path);
    if (data === undefined) {
      if (f.entry === 'ca.key') throw caKeyNotHere(`${path} is absent`);
      throw new InvalidError('UPLOAD_FILE_MISSING', `${path} is missing; run tlsboot init --dir ${dir} first`, { field: path });
    }
    out.set(f.entry, data);
  }
  return out;
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
 * (kubeadm's way of saying "absent") counts as absent. Nothing is written here.
 * @throws INVALID: CERTIFICATE_KEY_WRONG, CA_KEY_NOT_HERE, or an entry missing
 */
export function openCertsSecret(secret: JsonObject, key: Uint8Array): Map<string, Buffer> {
  const data = isObject(secret.data) ? secret.data : {};
  const out = new Map<string, Buffer>();
  for (const f of SHARED_FILES) {
    const value = data[f.entry];
    const sealed = typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.alloc(0);
    if (sealed.length === 0) {
      if (f.entry === 'ca.key') throw caKeyNotHere(`the ${KUBEADM_CERTS_SECRET} Secret holds no ca.key`);
      throw new InvalidError(
        'UPLOAD_ENTRY_MISSING',
        `the ${KUBEADM_CERTS_SECRET} Secret has no "${f.entry}"; upload the certificates again`,
        {
          field: f.entry,
        },
      );
    }
    out.set(f.entry, decryptWithCertificateKey(sealed, key, `the "${f.entry}" entry of ${KUBEADM_CERTS_SECRET}`));
  }
  return out;
}
