// Docker-like random names ("brave_turing"), and the rules for user-given ones.
import { randomBytes, randomInt } from 'node:crypto';

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

/**
 * How many leading hex digits of an id name things on the host: the veth is "td" + 10
 * (interface names have at most 15 characters; daemon/network/links.ts), run dirs use
 * 12. Ids are kept unique in these 10, so no two containers ever share a veth name,
 * and a link with a container's name can only be its own stale one.
 */
export const ID_UNIQUE_PREFIX = 10;

/** A new 64-hex container id whose first ID_UNIQUE_PREFIX digits no container has. */
export function newContainerId(taken: (prefix: string) => boolean, random: () => string = () => randomBytes(32).toString('hex')): string {
  for (;;) {
    const id = random();
    if (!taken(id.slice(0, ID_UNIQUE_PREFIX))) return id;
  }
}
