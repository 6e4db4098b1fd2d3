"""Sans-I/O wire dialects: JSON-RPC 2.0, the legacy ws-rpc-client frames, ws-promise v2."""
