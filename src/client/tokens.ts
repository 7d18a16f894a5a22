/**
 * Bootstrap tokens over KubeClient: where their Secrets live, the default group a node token
 * authenticates as, and the join command that hands one to a new node with the cluster's CA pins.
 * `tlsboot token` and the console both build their join commands here, so the two print the same.
 */
import { BOOTSTRAP_TOKEN_NAMESPACE } from '../api/index.ts';
import { certificatePin, parseCertificateBundle } from '../pki/index.ts';
import type { ConnectionConfig } from './client.ts';

export const TOKEN_SECRETS_PATH = `/api/v1/namespaces/${BOOTSTRAP_TOKEN_NAMESPACE}/secrets`;
export const DEFAULT_TOKEN_GROUP = 'system:bootstrappers:kubeadm:default-node-token';

/** The `tlsboot join` command for `token` against the server and CA of `config`. */
export function joinCommand(config: ConnectionConfig, token: string): string {
  const pins = parseCertificateBundle(config.caPem ?? '').map(certificatePin);
  // npx runs the CLI from a clone on the pinned Node, where `tlsboot` itself is on no PATH.
  return `npx tlsboot join ${config.server} --token ${token} ${pins.map((p) => `--discovery-token-ca-cert-hash ${p}`).join(' ')}`;
}
