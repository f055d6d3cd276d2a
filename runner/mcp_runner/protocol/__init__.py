"""The MCP protocol engine: JSON-RPC framing, protocol eras, and method dispatch."""
