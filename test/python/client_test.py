#!/usr/bin/python3
"""Call the pheromones admin API from Python, as docs/api.md shows.

Generates stubs from proto/ with grpc_tools.protoc, then against a running
daemon: GetInfo, AddPeer, Broadcast, a Subscribe stream, and a call without
the token (must be UNAUTHENTICATED). Prints one JSON line on success; exits
non-zero with the reason otherwise. Run by test/integration/api-python.test.ts.
"""
import argparse
import glob
import json
import os
import sys
import tempfile

try:
    import grpc
    from grpc_tools import protoc
except ImportError as err:  # pragma: no cover - the message is the point
    print(f"python grpc missing ({err}): install Debian's python3-grpcio and python3-grpc-tools "
          "(apt-get install python3-grpcio python3-grpc-tools)", file=sys.stderr)
    sys.exit(3)


def generate(proto_dir, out_dir):
    files = sorted(glob.glob(os.path.join(proto_dir, "pheromones", "admin", "v1", "*.proto")))
    if not files:
        raise SystemExit(f"no admin protos under {proto_dir}")
    # grpc_tools.protoc wants its include of the well-known types as well.
    well_known = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    args = ["protoc", f"-I{proto_dir}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}"]
    if os.path.isdir(well_known):
        args.append(f"-I{well_known}")
    if protoc.main(args + files) != 0:
        raise SystemExit("grpc_tools.protoc failed")
    sys.path.insert(0, out_dir)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proto-dir", required=True)
    ap.add_argument("--rpc", required=True, help="host:port of the gRPC API")
    ap.add_argument("--cookie", required=True, help="path of the daemon's api.cookie")
    ap.add_argument("--peer", required=True, help="P2P host:port of another node to add")
    ap.add_argument("--peer-id", required=True, help="that node's id")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as out:
        generate(a.proto_dir, out)
        from pheromones.admin.v1 import message_pb2, message_pb2_grpc, node_pb2, node_pb2_grpc, peer_pb2, peer_pb2_grpc

        with open(a.cookie) as f:
            token = f.read().strip()
        auth = [("authorization", f"Bearer {token}")]
        channel = grpc.insecure_channel(a.rpc)
        nodes = node_pb2_grpc.NodeServiceStub(channel)
        peers = peer_pb2_grpc.PeerServiceStub(channel)
        messages = message_pb2_grpc.MessageServiceStub(channel)

        info = nodes.GetInfo(node_pb2.GetInfoRequest(), metadata=auth, timeout=10)
        assert len(info.node_id) == 64, info

        added = peers.AddPeer(peer_pb2.AddPeerRequest(address=a.peer, timeout_ms=10000), metadata=auth, timeout=15)
        assert added.peer.node_id == a.peer_id, added

        # Resume from the current end of the log: the broadcast below cannot slip
        # in before the stream starts.
        stream = messages.Subscribe(
            message_pb2.SubscribeRequest(topic="py", replay=True, after_seq=info.message_log_size),
            metadata=auth, timeout=15)
        sent = messages.Broadcast(message_pb2.BroadcastRequest(topic="py", payload=b"hello from python"),
                                  metadata=auth, timeout=10)
        assert len(sent.id) == 64, sent
        received = None
        for event in stream:
            if event.WhichOneof("event") == "message" and event.message.id == sent.id:
                received = event.message
                break
        stream.cancel()
        assert received is not None and received.payload == b"hello from python", received

        try:
            nodes.GetInfo(node_pb2.GetInfoRequest(), timeout=10)
            raise SystemExit("a call without the token was accepted")
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err

        print(json.dumps({
            "node_id": info.node_id,
            "peer": added.peer.node_id,
            "message_id": sent.id,
            "seq": received.seq,
            "unauthenticated": True,
        }))
        channel.close()


if __name__ == "__main__":
    main()
