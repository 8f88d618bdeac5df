// Docker-like random names ("brave_turing"), and the rules for user-given ones.
import { randomInt } from 'node:crypto';

const ADJECTIVES = [
  'admiring', 'bold', 'brave', 'calm', 'clever', 'eager', 'elated', 'focused', 'gentle', 'happy',
  'jolly', 'keen', 'kind', 'lucid', 'modest', 'nifty', 'quirky', 'serene', 'sharp', 'stoic',
  'tender', 'upbeat', 'vibrant', 'wizardly', 'zealous',
];
const NAMES = [
  'babbage', 'bell', 'curie', 'darwin', 'dijkstra', 'euler', 'feynman', 'gauss', 'hopper', 'hypatia',
  'kepler', 'knuth', 'lamport', 'liskov', 'lovelace', 'mccarthy', 'noether', 'pike', 'ritchie', 'shannon',
  'thompson', 'torvalds', 'turing', 'wozniak', 'yonath',
];

export function randomName(taken: (name: string) => boolean): string {
  for (let i = 0; i < 100; i++) {
    const name = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${NAMES[randomInt(NAMES.length)]}`;
    const candidate = i < 10 ? name : `${name}${randomInt(1000)}`;
    if (!taken(candidate)) return candidate;
  }
  throw new Error('could not find a free random container name');
}

export const NAME_RULE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

export function checkName(name: string): string | undefined {
  if (!NAME_RULE.test(name)) return `Invalid container name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`;
  return undefined;
}
