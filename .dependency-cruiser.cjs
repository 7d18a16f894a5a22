/**
 * The layer arrows of DESIGN.md, enforced. `base` (errors and other pure helpers) sits below
 * every layer. An arrow not listed here is forbidden, and so is any import cycle.
 */
const allowed = {
  base: [],
  pki: ['base'],
  api: ['base', 'pki'],
  store: ['base', 'pki', 'api'],
  server: ['base', 'pki', 'api', 'store', 'runtime'],
  client: ['base', 'pki', 'api'],
  runtime: ['base', 'pki', 'api', 'client'],
  controllers: ['base', 'pki', 'api', 'runtime'],
  kubeadm: ['base', 'pki', 'api', 'store'],
  signer: ['base', 'pki', 'api', 'kubeadm'],
  'signer-server': ['base', 'pki', 'api', 'kubeadm', 'signer'],
  agent: ['base', 'pki', 'api', 'client'],
  web: ['base', 'pki', 'api', 'client'],
  'control-plane': ['base', 'pki', 'api', 'store', 'server', 'client', 'runtime', 'controllers', 'signer', 'kubeadm', 'web'],
  cli: [
    'base',
    'pki',
    'api',
    'store',
    'server',
    'client',
    'runtime',
    'controllers',
    'signer',
    'signer-server',
    'kubeadm',
    'agent',
    'web',
    'control-plane',
  ],
};

const layers = Object.keys(allowed);

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    ...layers.map((layer) => ({
      name: `layer-${layer}`,
      comment: `src/${layer} may import only: ${allowed[layer].join(', ') || 'nothing outside itself'}`,
      severity: 'error',
      from: { path: `^src/${layer}/` },
      to: { path: `^src/(?!(${[layer, ...allowed[layer]].join('|')})/)` },
    })),
    {
      name: 'process-only-in-main',
      comment: 'only src/cli/main.ts touches process.argv/env/exit; enforced by grep in test/layout.test.ts',
      severity: 'error',
      from: { path: '^src/(?!cli/main\\.ts$)' },
      to: { path: '^src/cli/main\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
