// The configuration (docs/operations.md): re-exports only.
export * from './channels';
export * from './environment';
export * from './load';
export * from './nodeOptions';
export * from './schema';
