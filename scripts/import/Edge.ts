import type { UserId } from '../../core/Event';

/** One following of a follower, as a graph source reads it from a line or the generator makes it. */
export interface Edge {
  followee: UserId;
  /** Total affinity of the follower to the followee (the follow's own weight included). */
  affinity: number;
  /** Entities of the followee's tweets the follower engaged with. */
  entities: string[];
}
