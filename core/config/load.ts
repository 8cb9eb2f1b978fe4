import { readFileSync } from 'node:fs';
import { Value } from '@sinclair/typebox/value';
import { HeraldError } from '../HeraldError';
import { resolveChannelConfig } from './channels';
import { ConfigSchema, type HeraldConfig } from './schema';

/** Fills defaults, then validates; throws HERALD_INVALID_CONFIG naming the first bad option. */
export function loadConfig(input: Partial<HeraldConfig>): HeraldConfig {
  const clean = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  const config = Value.Default(ConfigSchema, structuredClone(clean)) as HeraldConfig;
  const first = Value.Errors(ConfigSchema, config).First();
  if (first) throw new HeraldError('HERALD_INVALID_CONFIG', `invalid option ${first.path.slice(1) || '(root)'}: ${first.message}`);
  // Channel settings are checked now, not at the first send.
  if (config.channels) resolveChannelConfig(config.channels);
  return config;
}

/** The options of a JSON config file (validated with the rest by `loadConfig`). */
export function readConfigFile(path: string): Partial<HeraldConfig> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new HeraldError('HERALD_INVALID_CONFIG', `cannot read config file ${path}: ${(err as Error).message}`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as Partial<HeraldConfig>;
  } catch (err) {
    throw new HeraldError('HERALD_INVALID_CONFIG', `config file ${path} is not a JSON object of options: ${(err as Error).message}`);
  }
}

/** Every option at its default: what a component is given when nothing is configured (tests, in-process benchmarks). */
export const DEFAULT_CONFIG: Readonly<HeraldConfig> = Object.freeze(loadConfig({}));
