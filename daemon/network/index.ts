// The network module: `BridgeNetwork` implements the engine's NetworkHooks (rootful).
export { BridgeNetwork, type BridgeNetworkOptions } from './bridge.ts';
