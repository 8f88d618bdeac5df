// The network module: `BridgeNetwork` implements NetworkHooks (hooks.ts; rootful).
export { BridgeNetwork, type BridgeNetworkOptions } from './bridge.ts';
export type { NetworkHooks, NetworkedContainer, NetworkMode } from './hooks.ts';
