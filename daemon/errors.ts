// The daemon's modules import their errors from here; the one definition is
// lib/errors.ts, shared with images/.
export * from '../lib/errors.ts';
