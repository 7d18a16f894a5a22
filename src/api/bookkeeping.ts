/**
 * The fields of the controllers' bookkeeping kinds (tlsboot.io/v1alpha1), declared once: the
 * server's OpenAPI document and the CustomResourceDefinitions that `tlsboot controllers
 * manifests` prints are both built from this table, so the two cannot drift apart.
 */
import {
  ADDRESS_CLAIMS,
  type ApiResource,
  CERTIFICATE_REVOCATIONS,
  ISSUED_CERTIFICATES,
  NODE_ADDRESSES,
  NODE_CLIENT_CERTIFICATES,
  NODE_NAME_CLAIMS,
} from './cluster-client.ts';

/** `string`, or `map` for an object of strings (address -> RFC 3339 time). */
export type BookkeepingFieldType = 'string' | 'map';

export interface BookkeepingKind {
  readonly resource: ApiResource;
  readonly description: string;
  readonly fields: Readonly<Record<string, { readonly type: BookkeepingFieldType; readonly description: string }>>;
}

const s = (description: string) => ({ type: 'string' as const, description });

export const BOOKKEEPING_KINDS: readonly BookkeepingKind[] = [
  {
    resource: ISSUED_CERTIFICATES,
    description: 'A certificate the signer issued, named by the CSR uid: written before the CSR gets it, so no CSR is signed twice.',
    fields: {
      csrName: s('The CertificateSigningRequest it answered.'),
      signerName: s('The signer that issued it.'),
      requester: s('The user who created the CSR.'),
      commonName: s("The certificate's subject common name."),
      serialNumber: s('The serial number, hex.'),
      notBefore: s('Start of validity (RFC 3339).'),
      notAfter: s('End of validity (RFC 3339).'),
      issuedAt: s('When it was signed (RFC 3339).'),
      certificate: s('The certificate, PEM.'),
    },
  },
  {
    resource: NODE_CLIENT_CERTIFICATES,
    description: "A node's newest client certificate, named by its common name: the registry of known node names.",
    fields: {
      serialNumber: s('The serial number, hex.'),
      notAfter: s('End of validity (RFC 3339).'),
      csrName: s('The CertificateSigningRequest it answered.'),
      issuedAt: s('When it was signed (RFC 3339).'),
    },
  },
  {
    resource: NODE_NAME_CLAIMS,
    description: 'The first request approved for a new node name: one certificate per new node.',
    fields: {
      csrName: s('The claiming CertificateSigningRequest.'),
      csrUid: s('Its uid.'),
      claimedAt: s('When the claim was made (RFC 3339).'),
    },
  },
  {
    resource: ADDRESS_CLAIMS,
    description: 'Which node holds an IP address in a live serving certificate, until when.',
    fields: {
      ip: s('The address, canonical form.'),
      node: s('The node holding it.'),
      notAfter: s('Until when (RFC 3339).'),
    },
  },
  {
    resource: NODE_ADDRESSES,
    description: "The addresses in a node's live serving certificates (at most 16 per node).",
    fields: { addresses: { type: 'map', description: 'Address -> until when (RFC 3339).' } },
  },
  {
    resource: CERTIFICATE_REVOCATIONS,
    description:
      'A revoked certificate, named by its serial number (lower-case hex): refused by the API server at once, listed in CRLs until it expires.',
    fields: {
      serialNumber: s('The serial number, hex (the name).'),
      reason: s('RFC 5280 reason: unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation or privilegeWithdrawn.'),
      revokedAt: s('When it was revoked (RFC 3339).'),
      revokedBy: s('The user who revoked it.'),
      commonName: s("The certificate's subject common name."),
      csrName: s('The CertificateSigningRequest it answered.'),
      signerName: s('The signer that issued it.'),
      notAfter: s('End of validity (RFC 3339): after it the revocation leaves CRLs and this list.'),
    },
  },
];
