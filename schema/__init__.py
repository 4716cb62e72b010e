"""GraphQL shapes: strawberry types, inputs, enums, Node, connections, the request context."""
