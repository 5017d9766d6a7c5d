import type { MessageInitShape } from '@bufbuild/protobuf';
import type { MessageService, SubscribeResponseSchema } from '../../gen/pheromones/admin/v1/message_pb.js';
import type { NodeApi, StoredMessage, DirectMessage } from '../../node/types.js';
import { PheromonesError } from '../../errors.js';
import { BoundedQueue } from '../bounded-queue.js';
import type { ImplOf } from '../grpc-adapter.js';
import { directToApi, messageToApi } from '../convert.js';
import { invalidArgument } from '../status.js';
import * as check from '../validate.js';

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;
/** Page size used to replay the log at the start of a resumed Subscribe. */
const REPLAY_PAGE = 256;

type Delivered = { kind: 'message'; msg: StoredMessage } | { kind: 'direct'; msg: DirectMessage };
type SubscribeOut = MessageInitShape<typeof SubscribeResponseSchema>;

export function messageService(node: NodeApi, opts: { streamBuffer: number }): ImplOf<typeof MessageService> {
  return {
    async broadcast(req) {
      const topic = check.topic('topic', req.topic, { emptyMeans: check.DEFAULT_TOPIC })!;
      const msg = await node.broadcast(topic, check.payload('payload', req.payload));
      return { id: Buffer.from(msg.id).toString('hex'), seq: msg.seq };
    },

    async sendToPeer(req) {
      const nodeId = check.hexId('node_id', req.nodeId);
      const topic = check.topic('topic', req.topic, { emptyMeans: check.DEFAULT_TOPIC })!;
      await node.sendToPeer(nodeId, topic, check.payload('payload', req.payload));
      return {};
    },

    async listMessages(req) {
      if (req.limit > MAX_PAGE) throw invalidArgument('limit', `at most ${MAX_PAGE}`);
      const topic = check.topic('topic', req.topic, { emptyMeans: undefined });
      const messages = await node.listMessages(req.afterSeq, req.limit === 0 ? DEFAULT_PAGE : req.limit, topic);
      const last = messages.at(-1);
      return { messages: messages.map(messageToApi), nextAfterSeq: last ? last.seq : req.afterSeq };
    },

    async getMessage(req) {
      const id = check.hexId('id', req.id);
      const msg = await node.getMessage(Buffer.from(id, 'hex'));
      if (!msg) throw new PheromonesError('not-found', `no message ${id} in the log`);
      return { message: messageToApi(msg) };
    },

    async *subscribe(req, ctx): AsyncIterable<SubscribeOut> {
      const topic = check.topic('topic', req.topic, { emptyMeans: undefined });
      // Live first, into the bounded queue, so nothing logged during the
      // replay below is missed; the replayed range is skipped when draining.
      const queue = new BoundedQueue<Delivered>(opts.streamBuffer, ctx.signal);
      const offs = [
        node.onMessage((msg) => {
          if (topic === undefined || msg.topic === topic) queue.push({ kind: 'message', msg });
        }),
      ];
      if (req.includeDirect) {
        offs.push(
          node.onDirect((msg) => {
            if (topic === undefined || msg.topic === topic) queue.push({ kind: 'direct', msg });
          }),
        );
      }
      try {
        let lastSeq = req.replay ? req.afterSeq : -1n;
        if (req.replay) {
          for (;;) {
            if (ctx.signal.aborted) return;
            const page = await node.listMessages(lastSeq, REPLAY_PAGE, topic);
            for (const msg of page) {
              lastSeq = msg.seq;
              yield { event: { case: 'message', value: messageToApi(msg) } };
            }
            if (page.length < REPLAY_PAGE) break;
          }
        }
        for await (const item of queue) {
          if (item.kind === 'direct') {
            yield { event: { case: 'direct', value: directToApi(item.msg) } };
          } else if (item.msg.seq > lastSeq) {
            yield { event: { case: 'message', value: messageToApi(item.msg) } };
          }
        }
      } finally {
        for (const off of offs) off();
      }
    },
  };
}
