export { startSimulator, buildSimulatorApp, type RunningSimulator, type SimulatorOptions } from './server';
export { SimulatorEngine, DEFAULT_SETTINGS, messageIdFor, type SimulatorSettings } from './engine';
export type { LedgerSummary } from './ledger';
