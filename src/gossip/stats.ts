/** What gossip did on one link (announcements are counted in ids, not frames). */
export interface LinkGossipCounters {
  /** Full message frames received (first copies and duplicates). */
  payloadsReceived: number;
  /** Full message frames received for a message already seen. */
  duplicates: number;
  /** Full message frames sent. */
  payloadsSent: number;
  /** Message ids announced (lazy push). */
  ihaveSent: number;
  ihaveReceived: number;
  /** Graft requests (a link taken back into the tree). */
  graftsSent: number;
  graftsReceived: number;
  /** Prune notices (a link taken out of the tree). */
  prunesSent: number;
  prunesReceived: number;
  /** Rooted-tree adverts (gossip/5). */
  treeAdvertsSent: number;
  treeAdvertsReceived: number;
}

/** Per-peer counters plus whether we push full messages to that peer. */
export interface PeerGossipCounters extends LinkGossipCounters {
  /** True when the link is in our broadcast tree (eager push), false when we only announce ids on it. */
  eager: boolean;
}

/** Per-topic counters: what crossed the links for messages of one topic. */
export interface TopicGossipCounters {
  topic: string;
  payloadsReceived: number;
  duplicates: number;
  payloadsSent: number;
  ihaveSent: number;
  delivered: number;
}

/** What gossip did, for tests, benchmarks and the API. */
export interface GossipStats extends LinkGossipCounters {
  /** Gossip frames handed to peers (messages, announcements, grafts, prunes). */
  framesSent: number;
  /** Gossip frames received. */
  framesReceived: number;
  /** Received frames dropped for a timestamp outside the seen window. */
  stale: number;
  /** Messages delivered (logged) locally, own broadcasts included. */
  delivered: number;
  /** Messages received through a graft (recovered after an announcement). */
  recovered: number;
  /** Announced ids given up on: no announcer could send the message. */
  missingDropped: number;
  /** Prune hints sent or passed on towards an origin (gossip/3). */
  pruneHintsSent: number;
  /** Duplicates whose cycle's heaviest link the path weights could not tell (lists full). */
  duplicatesUndecided: number;
  /** Duplicates pushed on a link that is lazy at our end (counted only, docs/scale.md says why). */
  duplicatesOnLazy: number;
  /** Gossip/5 links that stopped pushing because they stayed outside the rooted tree for a beacon period. */
  treeLinksLeft: number;
}

export function emptyLinkCounters(): LinkGossipCounters {
  return {
    payloadsReceived: 0,
    duplicates: 0,
    payloadsSent: 0,
    ihaveSent: 0,
    ihaveReceived: 0,
    graftsSent: 0,
    graftsReceived: 0,
    prunesSent: 0,
    prunesReceived: 0,
    treeAdvertsSent: 0,
    treeAdvertsReceived: 0,
  };
}

export function emptyStats(): GossipStats {
  return { ...emptyLinkCounters(), framesSent: 0, framesReceived: 0, stale: 0, delivered: 0, recovered: 0, missingDropped: 0, pruneHintsSent: 0, duplicatesUndecided: 0, duplicatesOnLazy: 0, treeLinksLeft: 0 };
}

/** Topics are chosen by remote origins: past this many, the rest share one entry. */
export const MAX_TOPIC_COUNTERS = 256;
export const OTHER_TOPICS = '(other)';

export class TopicCounters {
  private readonly byTopic = new Map<string, TopicGossipCounters>();

  get(topic: string): TopicGossipCounters {
    let c = this.byTopic.get(topic);
    if (c !== undefined) return c;
    const key = this.byTopic.size < MAX_TOPIC_COUNTERS - 1 ? topic : OTHER_TOPICS;
    c = this.byTopic.get(key);
    if (c === undefined) {
      c = { topic: key, payloadsReceived: 0, duplicates: 0, payloadsSent: 0, ihaveSent: 0, delivered: 0 };
      this.byTopic.set(key, c);
    }
    return c;
  }

  list(): TopicGossipCounters[] {
    return [...this.byTopic.values()].map((c) => ({ ...c }));
  }
}
