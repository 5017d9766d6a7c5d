import { ALPHA, distance, idBytes, K, type Contact } from './kademlia.js';

export interface LookupOptions {
  target: Buffer;
  /** Where to start: the closest contacts we know. */
  start: Contact[];
  /** Ask one contact for the nodes closest to the target; rejects when it does not answer. */
  query(contact: Contact): Promise<Contact[]>;
  /** Give up at this time (ms since the epoch). */
  deadlineMs: number;
  /** Ends the lookup early with this contact (FindNode stops once the target itself shows up). */
  isGoal?(contact: Contact): boolean;
  /** Never queried (this node itself). */
  selfId: string;
  /** Most contacts queried in all. */
  maxQueries?: number;
}

export interface LookupResult {
  closest: Contact[];
  goal: Contact | undefined;
  queried: number;
  /** Contacts that answered. */
  responders: Contact[];
  /**
   * Queries in the chain that led to the goal: 0 when it was known at the
   * start, 1 when a first contact named it, and so on; -1 without a goal.
   */
  hops: number;
}

type State = 'new' | 'pending' | 'answered' | 'failed';

/** A contact in a lookup: its distance to the target, and how many queries deep it was learnt. */
interface Entry {
  c: Contact;
  d: Buffer;
  state: State;
  depth: number;
}

/**
 * Iterative Kademlia lookup: query the α closest not yet asked, merge what
 * they return, and repeat until the k closest known have all answered (or
 * failed), the goal shows up, or the deadline passes.
 */
export async function iterativeLookup(o: LookupOptions): Promise<LookupResult> {
  const maxQueries = o.maxQueries ?? 4 * K;
  const known = new Map<string, Entry>();
  let goal: Contact | undefined;
  let hops = -1;
  const learn = (c: Contact, depth: number): void => {
    if (c.id === o.selfId || known.has(c.id)) return;
    known.set(c.id, { c, d: distance(idBytes(c.id), o.target), state: 'new', depth });
    if (goal === undefined && o.isGoal?.(c)) {
      goal = c;
      hops = depth;
    }
  };
  for (const c of o.start) learn(c, 0);
  let queried = 0;
  let inFlight = 0;
  const responders: Contact[] = [];
  let wake: (() => void) | undefined;

  const sorted = (): Entry[] => [...known.values()].sort((a, b) => Buffer.compare(a.d, b.d));

  while (goal === undefined && Date.now() < o.deadlineMs) {
    const top = sorted().filter((e) => e.state !== 'failed').slice(0, K);
    const next = top.filter((e) => e.state === 'new');
    if (next.length === 0 && inFlight === 0) break;
    while (inFlight < ALPHA && queried < maxQueries) {
      const e = next.shift();
      if (e === undefined) break;
      e.state = 'pending';
      inFlight++;
      queried++;
      o.query(e.c).then(
        (found) => {
          e.state = 'answered';
          responders.push(e.c);
          for (const c of found) learn(c, e.depth + 1);
        },
        () => {
          e.state = 'failed';
        },
      ).finally(() => {
        inFlight--;
        wake?.();
      });
    }
    if (inFlight === 0) break;
    const remaining = o.deadlineMs - Date.now();
    if (remaining <= 0) break;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, remaining);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    wake = undefined;
  }
  const closest = sorted()
    .filter((e) => e.state === 'answered')
    .slice(0, K)
    .map((e) => e.c);
  return { closest, goal, queried, responders, hops };
}
