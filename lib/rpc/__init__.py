"""Node RPC: the call table, per-node results, the fan-out client.

Every call is one row of :data:`ganeti.rpc.defs.CALLS`; the master's
stubs (:class:`ganeti.rpc.client.RpcClient`) and the node side's argument
decoding (:mod:`ganeti.backend`) both read it.  Every call returns, per
node, an :class:`~ganeti.rpc.result.RpcResult`.
"""
