/**
 * The CA's CRL shards at `/crl/<shard>.crl` (DER, `application/pkix-crl`), for anyone: a CRL is
 * signed, so it needs no authentication, and every party that checks a certificate must be able
 * to fetch it. Authorisation still applies (the authz hook); RBAC grants it to everyone by default
 * (tlsboot:crl-reader).
 */
import { NotFoundError, UnavailableError } from '../../base/errors.ts';
import type { Plugin } from './shared.ts';

export interface CrlSource {
  /** The DER of a shard; undefined when it has not been built (yet). */
  get(shard: number): Uint8Array | undefined;
  readonly shards: number;
}

export function crlPlugin(o: { readonly crls: CrlSource }): Plugin {
  return async (app) => {
    app.route<{ Params: { file: string } }>({
      method: ['GET', 'HEAD'],
      url: '/crl/:file',
      handler: async (req, reply) => {
        const m = /^(0|[1-9][0-9]{0,3})\.crl$/.exec(req.params.file);
        const shard = m ? Number(m[1]) : -1;
        if (shard < 0 || shard >= o.crls.shards) {
          throw new NotFoundError('CRL_SHARD', `no CRL ${req.params.file}: the shards are 0.crl to ${o.crls.shards - 1}.crl`);
        }
        const der = o.crls.get(shard);
        if (der === undefined) throw new UnavailableError('CRL_NOT_BUILT', 'the CRLs have not been signed yet (is the CA key available?)');
        return reply.type('application/pkix-crl').header('cache-control', 'no-cache').send(Buffer.from(der));
      },
    });
  };
}
