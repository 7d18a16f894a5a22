/**
 * Authentication, in kube-apiserver's order: an X.509 client certificate verified against the
 * cluster CA (CN is the user, O values the groups), then a bearer token (the static token file,
 * then bootstrap tokens read from the store on every request so deletion takes effect at once),
 * else anonymous. A credential that is presented but invalid is a 401, never anonymous. Token
 * secrets are compared in constant time and never appear in errors or logs.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { bootstrapTokenAuthentication, bootstrapTokenSecretName, matchBootstrapToken, type UserInfo } from '../api/index.ts';
import { InvalidError, UnauthenticatedError } from '../base/errors.ts';
import { type Certificate, commonName, organizations, parseCertificate, verifyChain } from '../pki/index.ts';

export type { UserInfo };

export const ANONYMOUS: UserInfo = { name: 'system:anonymous', groups: ['system:unauthenticated'] };

export function unauthenticated(message = 'Unauthorized'): UnauthenticatedError {
  return new UnauthenticatedError('AUTHN_FAILED', message);
}

/** Adds `system:authenticated`, as the union authenticator does for every non-anonymous user. */
export function withAuthenticatedGroup(user: UserInfo): UserInfo {
  return user.groups.includes('system:authenticated') ? user : { ...user, groups: [...user.groups, 'system:authenticated'] };
}

/** The revoked certificates' serials (lower-case hex), kept in memory from the revocations' watch. */
export interface RevokedSerials {
  has(serial: string): boolean;
  /** Calls `listener` with each serial revoked from now on; returns the unsubscribe. */
  onRevoked(listener: (serial: string) => void): () => void;
}

/** Maps a verified client certificate to a user (reference §9). */
export function userFromCertificate(leaf: Certificate, roots: readonly Certificate[], now: Date): UserInfo | undefined {
  try {
    verifyChain({ leaf, roots, now, usage: 'clientAuth' });
  } catch {
    throw unauthenticated('Unauthorized: the client certificate is not valid for this cluster');
  }
  const name = commonName(leaf.subject);
  if (!name) return undefined;
  const fingerprint = createHash('sha256').update(leaf.der).digest('hex');
  return {
    name,
    groups: organizations(leaf.subject),
    extra: { 'authentication.kubernetes.io/credential-id': [`X509SHA256=${fingerprint}`] },
  };
}

export function parsePeerCertificate(raw: Uint8Array): Certificate {
  try {
    return parseCertificate(raw);
  } catch {
    throw unauthenticated('Unauthorized: the client certificate cannot be parsed');
  }
}

/** A bearer token from the Authorization header, or undefined when none is sent. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw unauthenticated('Unauthorized: malformed Authorization header');
  return m[1];
}

/** How the authenticator reads a token's Secret: undefined when there is none. */
export type ReadTokenSecret = (name: string) => Promise<Record<string, unknown> | undefined>;

/**
 * The bootstrap-token authenticator (reference §1.3): the Secret named by the presented id is
 * read on every request, so a deleted or expired token stops working at once, and judged by
 * `bootstrapTokenAuthentication`, the rule admission, the token cleaner and the bootstrap signer
 * share. A failing read is the store's error (503), not a 401: an outage is no wrong credential
 * and must not feed the failure throttle.
 */
export function bootstrapTokenAuthenticator(read: ReadTokenSecret): (token: string, now: Date) => Promise<UserInfo | undefined> {
  return async (text, now) => {
    const presented = matchBootstrapToken(text);
    if (presented === undefined) return undefined;
    return bootstrapTokenAuthentication(presented, await read(bootstrapTokenSecretName(presented.id)), now);
  };
}

export interface StaticTokenEntry {
  readonly user: UserInfo;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/**
 * The `--token-auth-file` authenticator: `TOKEN,USER,UID,"GROUP1,GROUP2"` per line. Lookups hash
 * the presented token and compare digests in constant time, so timing says nothing about which
 * prefix of a real token was guessed.
 */
export class StaticTokens {
  private readonly entries: { readonly digest: Buffer; readonly user: UserInfo }[];

  private constructor(entries: { readonly digest: Buffer; readonly user: UserInfo }[]) {
    this.entries = entries;
  }

  static parse(csv: string, file: string): StaticTokens {
    const entries: { digest: Buffer; user: UserInfo }[] = [];
    csv.split(/\r?\n/).forEach((line, i) => {
      if (line.trim() === '' || line.trimStart().startsWith('#')) return;
      const fields = splitCsvLine(line);
      const [token, name, uid, groups] = fields;
      if (!token || !name || fields.length < 2) {
        throw new InvalidError('TOKEN_FILE', `${file}:${i + 1}: expected TOKEN,USER[,UID[,"GROUP1,GROUP2"]]`, { field: file });
      }
      const groupList = (groups ?? '')
        .split(',')
        .map((g) => g.trim())
        .filter((g) => g !== '');
      entries.push({ digest: digest(token), user: { name, ...(uid ? { uid } : {}), groups: groupList } });
    });
    return new StaticTokens(entries);
  }

  static empty(): StaticTokens {
    return new StaticTokens([]);
  }

  /** These tokens plus one more (the in-process controllers' own, never written anywhere). */
  withToken(token: string, user: UserInfo): StaticTokens {
    return new StaticTokens([...this.entries, { digest: digest(token), user }]);
  }

  lookup(token: string): UserInfo | undefined {
    const d = digest(token);
    let found: UserInfo | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.digest, d)) found = e.user;
    return found;
  }
}

/** One CSV record: fields separated by commas, double quotes around fields that contain commas. */
function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((f) => f.trim());
}
