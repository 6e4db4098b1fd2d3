"""Transport adapters: the :class:`~wsrpc_typed.transport.Transport` contract over a library."""
