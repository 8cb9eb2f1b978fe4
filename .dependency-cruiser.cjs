// Import rules of herald, checked by `npm run check` (dependency-cruiser: `npm run check:imports`).
// Layers, top to bottom: scripts/ and bench/ (CLIs, benchmarks) → gateway/ → cluster/ → actors/ → storage/ → core/.
// A layer imports only itself and the layers below it; client/ (browser and Node) imports only core/; test/ imports
// anything and nothing imports test/. Type-only imports count as imports: both cycles that core/ was made to break
// were made of them.

/** The folders below `layer` and `layer` itself, as a path regex for `pathNot`. */
const layers = ['core', 'storage', 'actors', 'cluster', 'gateway'];
const upTo = (layer) => `^(${layers.slice(0, layers.indexOf(layer) + 1).join('|')})/`;

/** A layer rule: a file of `layer` imports no herald file outside `allowed`. */
const layerRule = (layer, allowed, comment) => ({
  name: `layer-${layer}`,
  comment,
  severity: 'error',
  from: { path: `^${layer}/` },
  to: { dependencyTypes: ['local'], pathNot: allowed },
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import cycle (type-only imports included): move the shared declaration down a layer, usually to core/.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    layerRule('core', upTo('core'), 'core/ is the bottom layer: it imports nothing of herald outside core/ (the client depends on it).'),
    layerRule('storage', upTo('storage'), 'storage/ imports only core/ and storage/.'),
    layerRule('actors', upTo('actors'), 'actors/ imports only core/, storage/ and actors/.'),
    layerRule('cluster', upTo('cluster'), 'cluster/ imports only core/, storage/, actors/ and cluster/.'),
    layerRule('gateway', upTo('gateway'), 'gateway/ imports only the layers below it and itself.'),
    layerRule('client', '^(core|client)/', 'client/ runs in browsers: it imports only core/ and client/.'),
    {
      name: 'client-no-node',
      comment: 'client/ runs in browsers: no Node built-in modules (the WebSocket class is injected).',
      severity: 'error',
      from: { path: '^client/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'no-import-of-tests',
      comment: 'Only test/ imports test/ (its support code and fixtures are not part of the product).',
      severity: 'error',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
    {
      name: 'comedy-only-in-cluster',
      comment: 'Only cluster/ (ActorRuntime, Listener, NodeHost) talks to comedy; everything else goes through it.',
      severity: 'error',
      from: { pathNot: '^cluster/' },
      to: { path: '(^|/)node_modules/comedy/' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that resolves to no file: a typo, or a dependency missing from package.json.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|data|node_modules|bench/report)/' },
    // Keep `import type` and type-only uses, which the compiled JavaScript drops: a cycle of types is still a cycle.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.check.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.json'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
