/**
 * `/metrics` in Prometheus text format, authorised like kube-apiserver's (`get` on the
 * non-resource URL `/metrics`, granted by the system:monitoring ClusterRole), and the per-request
 * counting behind tlsboot_apiserver_request_total and _duration_seconds. The count runs in
 * onResponse, after the reply went out, so it adds nothing to a request's latency; requests
 * refused before their target was read (401, 429) count with the HTTP method as their verb.
 */
import type { ApiMetrics, MetricsRegistry } from '../../base/metrics.ts';
import { type Plugin, shared } from './shared.ts';

export function metricsPlugin(o: { readonly registry: MetricsRegistry; readonly api: ApiMetrics }): Plugin {
  return shared(async (app) => {
    app.addHook('onResponse', async (req, reply) => {
      const info = req.tlsboot?.info;
      const code = String(reply.statusCode);
      if (info === undefined || info.kind === 'nonresource') {
        const verb = info?.verb ?? req.method.toLowerCase();
        o.api.requests.inc({ verb, group: '', resource: '', subresource: '', code });
        o.api.requestSeconds.observe({ verb, group: '', resource: '', subresource: '' }, reply.elapsedTime / 1000);
        return;
      }
      const { verb, group, resource, subresource } = info;
      o.api.requests.inc({ verb, group, resource, subresource, code });
      // A watch's duration is how long the client kept it open, not the server's latency.
      if (verb !== 'watch') o.api.requestSeconds.observe({ verb, group, resource, subresource }, reply.elapsedTime / 1000);
    });
    app.route({
      method: 'GET',
      url: '/metrics',
      handler: async (_req, reply) => reply.type(o.registry.contentType).send(await o.registry.text()),
    });
  });
}
