"""Root Query/Mutation fields, the operation lifecycle and the assembled schema."""
